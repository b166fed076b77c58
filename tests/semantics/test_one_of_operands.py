"""``one_of()`` as a condition operand and as ``map_over`` items gives the local interpreter's results (and
those of the same logic in plain Python) on moto's Step Functions engine and under kfp.local."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import oneof_flows as flows
from tests.support.aws import Aws
from tests.support.kfp import run_on_kfp_local
from typedflow.runtime.running import RunOptions, run_workflow


def vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    # kfp.local skips a branch whose condition it cannot resolve (and says so): that would pass unnoticed
    return run_on_kfp_local(wf, inputs, tmp_path)


# (workflow, inputs, plain Python's result, also under kfp.local: a second or two a task, so the branches
# each run once there)
CASES = [
    (flows.compared, {"x": 7}, flows.ref_compared(7), True),
    (flows.compared, {"x": 4}, flows.ref_compared(4), True),
    (flows.compared, {"x": 5}, flows.ref_compared(5), False),
    (flows.compared, {"x": 1}, flows.ref_compared(1), False),
    (flows.by_field, {"x": 5}, flows.ref_by_field(5), True),
    (flows.by_field, {"x": 2}, flows.ref_by_field(2), False),
    (flows.by_field, {"x": 1}, flows.ref_by_field(1), False),
    (flows.two_choices, {"x": 3, "y": 2}, flows.ref_two_choices(3, 2), True),
    (flows.two_choices, {"x": -1, "y": -4}, flows.ref_two_choices(-1, -4), False),
    (flows.items, {"n": 5}, flows.ref_items(5), False),
    (flows.items, {"n": 2}, flows.ref_items(2), True),
    (flows.items_through_sub, {"n": 1}, flows.ref_items(1), True),
    (flows.in_body, {"xs": [3, 1]}, flows.ref_in_body([3, 1]), True),
    # an option that is a sub-workflow's unchanged input is always there: the branch that ran decides
    (flows.passed_through, {"x": 5}, flows.ref_passed_through(5), True),
    (flows.passed_through, {"x": 2}, flows.ref_passed_through(2), True),
    (flows.passed_through_compared, {"x": 5}, flows.ref_passed_through_compared(5), False),
    (flows.passed_through_compared, {"x": 2}, flows.ref_passed_through_compared(2), True),
    (flows.passed_through_items, {"n": 5, "xs": [7, 8]}, flows.ref_passed_through_items(5, [7, 8]), False),
    (flows.passed_through_items, {"n": 2, "xs": [7, 8]}, flows.ref_passed_through_items(2, [7, 8]), True),
    (flows.passed_through_in_body, {"xs": [5, 2]}, flows.ref_in_body_passed([5, 2]), True),
    # the branch that ran computed None: None, though the other option (always there) is not (kfp.local
    # cannot hand a task's None output to the next task: it rejects None parameter values)
    (flows.null_first, {"x": 5}, flows.ref_null_first(5), False),
    (flows.null_first, {"x": 2}, flows.ref_null_first(2), True),
]


@pytest.mark.parametrize(
    ("wf", "inputs", "expected", "on_kfp"), CASES, ids=lambda v: getattr(v, "name", None) or json.dumps(v)
)
def test_one_of_operands_on_every_target(
    aws: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any], expected: Any, on_kfp: bool
) -> None:
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "local"))
    assert local.ok, local.failures
    assert local.outputs == {"out": expected}
    remote = aws.run(wf.ir, inputs)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": expected}
    if on_kfp:
        assert vertex(wf, inputs, tmp_path) == {"out": expected}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=st.integers(-4, 4), y=st.integers(-4, 4))
def test_choice_rules_on_one_of_values_agree_with_python(aws: Aws, x: int, y: int) -> None:
    """The Choice rules compiled for one_of operands pick the branch plain Python picks."""
    remote = aws.run(flows.two_choices.ir, {"x": x, "y": y})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": flows.ref_two_choices(x, y)}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=st.integers(-5, 6))
def test_a_pass_through_option_counts_only_where_its_branch_ran(aws: Aws, x: int) -> None:
    """A sub-workflow's unchanged input is always there: the Choice on the one_of still compares the value of
    the branch that ran, as plain Python does."""
    remote = aws.run(flows.passed_through_compared.ir, {"x": x})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": flows.ref_passed_through_compared(x)}


def test_the_one_of_marker_takes_the_option_of_the_branch_that_ran() -> None:
    """The runtime reads the recorded branch, not the first option that is not null; a marker without its
    branch or options is refused at the boundary."""
    from typedflow.backends.stepfunctions.lazyjson import resolve

    from typedflow.util.boundary import BoundaryError

    def fetch(_: dict[str, Any]) -> Any:
        raise AssertionError("nothing is offloaded here")

    def marker(ran: Any, options: Any) -> dict[str, Any]:
        return {"__tf__": "oneof", "ran": ran, "v": options}

    assert resolve(marker(1, {"0": 7, "1": None}), fetch) is None  # branch 1 ran and computed None
    assert resolve(marker(0, {"0": 7, "1": 8}), fetch) == 7  # both there: the branch decides
    assert resolve(marker(1, {"0": 7, "1": 8}), fetch) == 8
    assert resolve(marker(None, {"0": 7, "1": 8}), fetch) is None  # the chain did not run
    assert resolve(marker(2, {"0": 7, "1": 8}), fetch) is None  # a branch that computes no option (fail(...))
    sel = {"__tf__": "sel", "v": {"out": 3}, "p": ["out"]}
    assert resolve(marker(1, {"0": 7, "1": sel}), fetch) == 3
    for ran, options in ((True, {"0": 1}), ("0", {"0": 1}), (0, [1, 2]), (0, None)):
        with pytest.raises(BoundaryError, match="one_of"):
            resolve(marker(ran, options), fetch)


def test_the_specs_pick_the_value_before_they_use_it(aws: Aws) -> None:
    """On Vertex a small value task picks the one_of value (the condition then reads one parameter, the loop
    iterates over one list); on Step Functions the Choice compares each option where it is the value, and a
    Choice stages the list the Map iterates over."""
    from typedflow.backends.stepfunctions.compiler import compile_definition
    from typedflow.backends.vertex.compiler import compile_spec

    from tests.support.vertex_spec import check, check_strict

    every = (
        flows.compared,
        flows.by_field,
        flows.two_choices,
        flows.items,
        flows.items_through_sub,
        flows.in_body,
        flows.passed_through,
        flows.passed_through_compared,
        flows.passed_through_items,
        flows.passed_through_in_body,
        flows.null_first,
    )
    for wf in every:
        spec = compile_spec(wf.ir)
        assert check_strict(spec) == [] and check(spec) == [], wf.name
        aws.compile(wf.ir)  # checked by asl-validator
    spec = compile_spec(flows.items.ir)
    loop = spec["components"]["comp-map"]["dag"]["tasks"]["for-loop-1"]
    assert loop["parameterIterator"]["items"] == {"inputParameter": "pipelinechannel--value-1-out"}
    states = compile_definition(flows.items.ir, aws.options())["States"]
    assert states["map"]["ItemsPath"] == "$.k_map"
    pick = states["map (items)"]
    assert [states[c["Next"]]["InputPath"] for c in pick["Choices"]] == ["$.c_when.upto.out", "$.c_when.down_from.out"]
    # each list where the chain recorded its branch (and the list is not None)
    assert [[t.get("NumericEquals") for t in c["And"]] for c in pick["Choices"]] == [[None, 0, None], [None, 1, None]]
    assert {t["Variable"] for c in pick["Choices"] for t in c["And"] if "NumericEquals" in t} == {"$.c_when.when"}
    assert states[pick["Default"]]["Result"] == []  # no branch ran, or its list is None: no items, as locally
    # a sub-workflow's unchanged input is a path ASL fills in, under the branch index it is the value of
    states = compile_definition(flows.passed_through.ir, aws.options())["States"]
    requests = [s["Parameters"]["MessageBody"]["typedflow"] for s in states.values() if s.get("Type") == "Task"]
    (marker,) = [r["args"]["x"] for r in requests if r["node"] == "inc-2"]
    assert marker["ran.$"] == "$.c_when.when" and marker["v"]["0.$"] == "$.in.x"
