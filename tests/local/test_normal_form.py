"""A float written as an int (``1`` for ``1.0``) is the same value: one typed-JSON form, so one cache
key and one lineage digest, whoever wrote it and wherever the int came from."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import normal_flows as ff
from typedflow.ir import TypeRef
from typedflow.ir.canonical import digest
from typedflow.ir.types import check_json, has_variants, normal_form, type_ref
from typedflow.ir.values import converter
from typedflow.runtime.running import RunOptions, run_ir, run_workflow

from ..support.cli import run_cli


def _records(store: Path) -> list[dict[str, Any]]:
    lines = (store / "lineage" / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line]


def _not_normal(value: Any, t: TypeRef) -> bool:
    """An int where a float is declared, or a dict whose entries are not in key order, anywhere."""
    if t.kind == "float":
        return type(value) is int
    if value is None:
        return False
    if t.kind == "datetime":
        return bool(dt.datetime.fromisoformat(value).isoformat() != value)
    if t.kind == "date":
        return bool(dt.date.fromisoformat(value).isoformat() != value)
    if t.kind in ("list",):
        return any(_not_normal(v, t.args[0]) for v in value)
    if t.kind == "dict":
        return list(value) != sorted(value) or any(_not_normal(v, t.args[0]) for v in value.values())
    if t.kind == "optional":
        return _not_normal(value, t.args[0])
    if t.kind == "record":
        types = {f.name: f.type for f in t.fields}
        return any(_not_normal(v, types[k]) for k, v in value.items())
    return False


def _respelled(value: Any, t: TypeRef) -> Any:
    if t.kind == "datetime" and value is not None:
        return value.replace("T", " ")
    if t.kind == "date" and value is not None:
        return value.replace("-", "")  # ISO 8601's basic format
    if t.kind == "float":
        whole = value == int(value) and abs(value) < 2**53 and math.copysign(1, value) > 0  # -0.0 is no int
        return int(value) if whole else value
    if value is None:
        return None
    if t.kind == "list":
        return [_respelled(v, t.args[0]) for v in value]
    if t.kind == "dict":
        return {k: _respelled(value[k], t.args[0]) for k in reversed(list(value))}
    if t.kind == "optional":
        return _respelled(value, t.args[0])
    if t.kind == "record":
        types = {f.name: f.type for f in t.fields}
        return {k: _respelled(v, types[k]) for k, v in value.items()}
    return value


_TYPES = [
    float,
    int,
    list[float],
    dict[str, list[float]],
    dict[str, dict[str, int]],
    float | None,
    list[int],
    list[dt.datetime],
    dict[str, dt.date],
    ff.Point,
    list[ff.Point],
]
_numbers = st.integers(min_value=-(2**53), max_value=2**53) | st.floats(allow_nan=False, allow_infinity=False)


def _value_of(t: TypeRef) -> st.SearchStrategy[Any]:
    if t.kind == "float":
        return _numbers
    if t.kind == "int":
        return st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    if t.kind == "datetime":
        moments = st.datetimes(timezones=st.none() | st.just(dt.UTC))
        return moments.map(lambda d: d.isoformat()) | moments.map(lambda d: d.isoformat(sep=" "))
    if t.kind == "date":
        days = st.dates(min_value=dt.date(1000, 1, 1))
        return days.map(lambda d: d.isoformat()) | days.map(lambda d: d.strftime("%Y%m%d"))
    if t.kind == "list":
        return st.lists(_value_of(t.args[0]), max_size=4)
    if t.kind == "dict":
        return st.dictionaries(st.text(max_size=3), _value_of(t.args[0]), max_size=3)
    if t.kind == "optional":
        return st.none() | _value_of(t.args[0])
    assert t.kind == "record"
    return st.fixed_dictionaries({f.name: _value_of(f.type) for f in t.fields})


@st.composite
def _typed(draw: st.DrawFn) -> tuple[Any, TypeRef, Any]:
    py = draw(st.sampled_from(_TYPES))
    t = type_ref(py)
    return py, t, draw(_value_of(t))


@settings(max_examples=300, deadline=None)
@given(_typed())
def test_the_normal_form_is_the_same_value_in_one_spelling(case: tuple[Any, TypeRef, Any]) -> None:
    py, t, value = case
    assert check_json(value, t) is None
    formed = normal_form(value, t)
    assert check_json(formed, t) is None
    assert not _not_normal(formed, t)
    # the same Python value: 1 == 1.0, dicts are equal in any order, one time in any ISO spelling
    assert converter.structure(formed, py) == converter.structure(value, py)
    assert normal_form(formed, t) is formed  # already in normal form: the very value back
    if not _not_normal(value, t):
        assert formed is value
    if not has_variants(t):
        assert formed is value
    # another spelling of the same value (whole floats as ints, dicts in reverse order): one digest
    assert digest(normal_form(_respelled(value, t), t)) == digest(formed)


def test_an_int_no_float_can_hold_is_a_clear_problem_not_a_crash() -> None:
    huge = 10**400
    for t, value in ((type_ref(float), huge), (type_ref(list[float]), [1.0, huge])):
        problem = check_json(value, t, "x")
        assert problem is not None and problem.value_rule
        assert "expected a finite float, got an int of 401 digits" in str(problem)


def test_a_float_given_as_an_int_is_a_cache_hit_of_the_same_float(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = run_workflow(ff.scaled, {"v": 2}, RunOptions(store=store))
    again = run_workflow(ff.scaled, {"v": 2.0}, RunOptions(store=store))
    assert first.ok and again.ok
    assert first.value == again.value == 6.0 and type(first.value) is float
    assert again.cache_hits == 2
    tasks = [r for r in _records(store) if r["kind"] == "task"]
    inputs = {r["task"]: r["inputs"][0]["digest"] for r in tasks}
    assert inputs["whole"] == digest(2.0)
    # whole returned round(2.0) == 2, an int: kept as the float it is declared as
    outs = {r["task"]: r["outputs"][0]["digest"] for r in tasks}
    assert outs["whole"] == digest(2.0) and outs["scale"] == digest(6.0)
    # the default of scale's `by` (written as 2) and the constant 3 of the workflow body are floats too
    scale_params = next(r["parameters"] for r in tasks if r["task"] == "scale")
    assert scale_params == {"by": 3.0, "v": 2.0} and type(scale_params["by"]) is float
    assert ff.scale.template.inputs[1].default == 2.0 and type(ff.scale.template.inputs[1].default) is float


def test_records_and_map_items_keep_floats_where_floats_are_declared(tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = run_workflow(ff.points, {"ps": [ff.Point(x=3), ff.Point(x=1.5, y=2)]}, RunOptions(store=store))
    assert r.ok and r.value == {"x": [3.0, 1.0], "y": [0.0, 2.0]}
    assert all(type(v) is float for vs in r.value.values() for v in vs)
    again = run_workflow(ff.points, {"ps": [ff.Point(x=3.0, y=0.0), ff.Point(x=1.5, y=2.0)]}, RunOptions(store=store))
    assert again.ok and again.cache_hits == 1
    m = run_workflow(ff.halves, {"vs": [1, 2.5]}, RunOptions(store=store))
    assert m.ok and m.value == [2.0, 5.0] and all(type(v) is float for v in m.value)
    m2 = run_workflow(ff.halves, {"vs": [1.0, 2.5]}, RunOptions(store=store))
    assert m2.cache_hits == 2


def test_a_task_sees_a_dict_in_one_order_fresh_cached_and_in_a_worker_process(tmp_path: Path) -> None:
    # make() returns {"b": 1, "a": 2, "c": 3}; keys() is never cached. A fresh run handed keys() the
    # dict in insertion order and a run served make() from the cache in key order.
    seen = []
    for isolation in ("thread", "thread", "process"):
        r = run_workflow(ff.dict_order, {}, RunOptions(store=tmp_path / "s", isolation=isolation))
        assert r.ok
        seen.append(r.value)
    assert seen == [["a", "b", "c"]] * 3
    given = run_workflow(ff.given_order, {"d": {"z": 1, "y": 2}}, RunOptions(store=tmp_path / "s"))
    assert given.value == ["y", "z"]


def test_a_date_and_a_time_in_any_iso_spelling_are_one_value(tmp_path: Path) -> None:
    options = RunOptions(store=tmp_path / "s")
    first = run_ir(ff.when_is.ir, {"day": "20260105", "at": "2026-01-05 07:30:00"}, options, encoded=True)
    again = run_ir(ff.when_is.ir, {"day": "2026-01-05", "at": "2026-01-05T07:30:00.000000"}, options, encoded=True)
    assert first.value == again.value == [0, 7]
    assert again.cache_hits == 1
    task = next(r for r in _records(tmp_path / "s") if r["kind"] == "task")
    assert task["parameters"] == {"at": "2026-01-05T07:30:00", "day": "2026-01-05"}


def test_the_cli_names_an_int_too_big_for_a_float_input(tmp_path: Path) -> None:
    huge = str(10**400)
    spec = f"{Path(ff.__file__)}:scaled"
    p = run_cli("run", spec, "--store", str(tmp_path / "s"), "--input", f"v={huge}")
    assert p.returncode == 2, p.stderr
    assert 'input "v": expected a finite float, got an int of 401 digits' in p.stderr
    assert "Traceback" not in p.stderr
    ok = run_cli("run", spec, "--store", str(tmp_path / "s"), "--input", "v=2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "6.0"  # the declared float, not the int the tasks returned


@pytest.mark.parametrize("text", ["-0", "-0.0", " -0", "-0e3"])
def test_a_negative_zero_given_for_a_float_keeps_its_sign(text: str) -> None:
    from typedflow.runtime.inputs import parse_inputs

    v = parse_inputs(ff.scaled.ir, [f"v={text}"], None)["v"]
    assert isinstance(v, float) and v == 0 and math.copysign(1.0, v) == -1.0
    assert math.copysign(1.0, parse_inputs(ff.scaled.ir, ["v=0"], None)["v"]) == 1.0
