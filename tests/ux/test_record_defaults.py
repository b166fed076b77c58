"""Record-field defaults (attrs, dataclass, NamedTuple) in JSON input: the IR carries them, and
typedflow.runtime.inputs fills them in for every target exactly as Python would."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ux import flows
from typedflow import ir
from typedflow.errors import InputError, IRValidationError
from typedflow.ir.codec import dumps, from_data, loads, to_data
from typedflow.ir.types import type_ref
from typedflow.ir.values import decode, encode
from typedflow.runtime.inputs import check_inputs, parse_inputs, with_field_defaults

ROOT = Path(__file__).resolve().parents[2]


def fields(t: ir.TypeRef) -> dict[str, tuple[bool, Any]]:
    return {f.name: (f.has_default, f.default) for f in t.fields}


def test_the_ir_records_each_fields_json_default() -> None:
    assert fields(type_ref(flows.Config)) == {
        "n_estimators": (False, None),
        "max_depth": (True, 3),
        "tags": (True, []),  # a factory's value
    }
    assert fields(type_ref(flows.Limits)) == {
        "low": (True, 0.0),
        "high": (True, 1.0),
        "names": (True, ["a", "b"]),
    }
    assert fields(type_ref(flows.Point)) == {"x": (False, None), "y": (True, 7), "label": (True, None)}
    assert fields(type_ref(flows.Plan))["limits"] == (True, {"low": 0.0, "high": 1.0, "names": ["a", "b"]})


@attrs.frozen
class Odd:
    needs_self: int = attrs.field(default=attrs.Factory(lambda self: 1, takes_self=True))
    not_json: float = float("nan")  # typed JSON has no NaN
    wrong: int = "x"  # type: ignore[assignment]


def test_a_default_json_cannot_carry_leaves_the_field_required() -> None:
    assert fields(type_ref(Odd)) == {"needs_self": (False, None), "not_json": (False, None), "wrong": (False, None)}
    t = type_ref(Odd)
    with pytest.raises(InputError, match="missing field 'needs_self' of Odd"):
        check_inputs(_doc_with_input(t), {"v": {}})


def _doc_with_input(t: ir.TypeRef) -> ir.WorkflowIR:
    doc = flows.planned.ir
    wf = attrs.evolve(doc.workflow, inputs=(ir.Param("v", t),))
    return attrs.evolve(doc, workflow=wf)


def test_records_without_defaults_serialize_as_before() -> None:
    # A field without a default adds nothing to the IR's JSON, so those workflows keep their digest.
    data = to_data(flows.naps.ir)
    text = json.dumps(data)
    assert "has_default" in text  # (workflow parameters have always carried theirs)

    class Plain(NamedTuple):
        a: int
        b: str

    t = type_ref(Plain)
    from typedflow.ir.codec import converter

    assert [set(f) for f in converter.unstructure(t)["fields"]] == [{"name", "type"}, {"name", "type"}]


def test_defaults_round_trip_through_the_ir_document_and_its_schema() -> None:
    doc = flows.planned.ir
    again = loads(dumps(doc))
    assert again == doc and again.digest == doc.digest
    plan = again.workflow.inputs[0].type
    assert fields(plan)["origin"] == (True, None)
    # the schema: a default comes with has_default: true, and the other way round
    data = to_data(doc)
    field = data["workflow"]["inputs"][0]["type"]["fields"][1]
    assert field["name"] == "limits" and field["has_default"] is True
    for broken in ({"has_default": True}, {"default": 1}, {"has_default": False, "default": 1}):
        bad = json.loads(json.dumps(data))
        f = bad["workflow"]["inputs"][0]["type"]["fields"][1]
        f.pop("has_default")
        f.pop("default")
        f.update(broken)
        with pytest.raises(IRValidationError):
            from_data(bad)  # the schema refuses it before the digest is looked at


def test_check_inputs_fills_defaults_at_any_depth() -> None:
    doc = flows.planned.ir
    given = {
        "plan": {"configs": [{"n_estimators": 5}, {"n_estimators": 6, "tags": ["t"]}], "origin": {"x": 1}},
        "extra": {"k": {"n_estimators": 1, "max_depth": 9}},
    }
    before = json.dumps(given, sort_keys=True)
    out = check_inputs(doc, given)
    assert json.dumps(given, sort_keys=True) == before  # the given value is not changed
    assert out == {
        "plan": {
            "configs": [
                {"n_estimators": 5, "max_depth": 3, "tags": []},
                {"n_estimators": 6, "max_depth": 3, "tags": ["t"]},
            ],
            "limits": {"low": 0.0, "high": 1.0, "names": ["a", "b"]},
            "origin": {"x": 1, "y": 7, "label": None},
        },
        "extra": {"k": {"n_estimators": 1, "max_depth": 9, "tags": []}},
    }
    # a filled default is a copy: filling twice does not share one list
    a, b = (check_inputs(doc, given)["plan"]["configs"][0]["tags"] for _ in range(2))
    assert a == b == [] and a is not b
    # what has no default is still required, and wrong values are still reported
    with pytest.raises(InputError) as err:
        check_inputs(doc, {"plan": {"configs": [{"max_depth": 2}]}, "extra": {"k": {"n_estimators": "x"}}})
    assert str(err.value) == (
        "input \"plan\".configs[0]: missing field 'n_estimators' of Config; "
        "input \"extra\"['k'].n_estimators: expected int, got str"
    )


@settings(max_examples=60, deadline=None)
@given(
    given_fields=st.fixed_dictionaries(
        {},
        optional={
            "max_depth": st.integers(-5, 5),
            "tags": st.lists(st.text(max_size=3), max_size=2),
        },
    ),
    n=st.integers(0, 10),
    limits=st.fixed_dictionaries({}, optional={"low": st.floats(-1, 1), "high": st.floats(1, 2)}),
    point=st.none() | st.fixed_dictionaries({"x": st.integers(0, 3)}, optional={"y": st.integers(0, 3)}),
)
def test_json_defaults_give_what_python_defaults_give(
    given_fields: dict[str, Any], n: int, limits: dict[str, Any], point: dict[str, Any] | None
) -> None:
    """Filling a partial JSON record, then decoding it, is building the record in Python from the
    same fields: the JSON defaults are Python's."""
    config = {"n_estimators": n, **given_fields}
    raw: dict[str, Any] = {"configs": [config], "limits": limits}
    if point is not None:
        raw["origin"] = point
    t = type_ref(flows.Plan)
    filled = with_field_defaults(raw, t)
    python = flows.Plan(
        configs=[flows.Config(**config)],
        limits=flows.Limits(**limits),
        origin=None if point is None else flows.Point(**point),
    )
    assert decode(filled, flows.Plan) == python
    assert filled == encode(python, flows.Plan)


def test_the_command_line_fills_defaults_from_input_and_inputs_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plan = '{"configs": [{"n_estimators": 50}]}'
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"plan": json.loads(plan), "extra": {"k": {"n_estimators": 2}}}))
    for args in (
        ["--input", f"plan={plan}", "--input", 'extra={"k": {"n_estimators": 2}}'],
        ["--inputs-file", str(inputs)],
    ):
        r = subprocess.run(
            [
                *(sys.executable, "-m", "typedflow", "run", "tests.ux.flows:planned", *args),
                *("--store", str(tmp_path / "s"), "--log-format", "plain"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        expected = repr(
            (
                flows.Plan(configs=[flows.Config(n_estimators=50)]),
                [("k", flows.Config(n_estimators=2))],
            )
        )
        assert json.loads(r.stdout) == expected
        # the run records the inputs as checked: defaults filled
        run_id = r.stderr.split()[1]
        recorded = json.loads((tmp_path / "s" / "runs" / run_id / "inputs.json").read_text())
        assert recorded["plan"]["configs"] == [{"n_estimators": 50, "max_depth": 3, "tags": []}]


def test_every_target_fills_them_the_same_way() -> None:
    """`typedflow start` on Step Functions puts check_inputs' values in the execution input; Vertex
    submits check_parameters' values: both the same filled values as the local run."""
    from typedflow.backends.vertex.deploy import check_parameters

    doc = flows.planned.ir
    given = parse_inputs(doc, ['plan={"configs": [{"n_estimators": 1}]}', 'extra={"k": {"n_estimators": 2}}'], None)
    local = check_inputs(doc, given)
    assert check_parameters(doc, given) == local
    assert local["plan"]["limits"] == {"low": 0.0, "high": 1.0, "names": ["a", "b"]}


@dataclasses.dataclass
class WithDefault:
    a: int
    b: int = 2


def test_a_workflow_parameter_default_of_a_record_is_complete() -> None:
    # (a default given in Python is encoded whole: nothing for the filling to do)
    assert with_field_defaults({"a": 1, "b": 5}, type_ref(WithDefault)) == {"a": 1, "b": 5}
    assert with_field_defaults({"a": 1}, type_ref(WithDefault)) == {"a": 1, "b": 2}
    assert with_field_defaults("not a record", type_ref(WithDefault)) == "not a record"
