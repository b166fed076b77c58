"""``one_of()`` as a condition operand and as ``map_over`` items gives the local interpreter's results (and
those of the same logic in plain Python) on moto's Step Functions engine and under kfp.local."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import oneof_flows as flows
from tests.support.aws import Aws
from typedflow.runtime.running import RunOptions, run_workflow


def vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vertex"))
    try:
        from kfp_harness import run_spec
    finally:
        sys.path.pop(0)
    from typedflow.backends.vertex import BACKEND

    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    outs, warnings = run_spec(path, inputs, tmp_path / "kfp")
    # kfp.local skips a branch whose condition it cannot resolve (and says so): that would pass unnoticed
    assert not [w for w in warnings if "Could not resolve" in w or "evaluation failed" in w], warnings
    return outs


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


def test_the_specs_pick_the_value_before_they_use_it(aws: Aws) -> None:
    """On Vertex a small value task picks the one_of value (the condition then reads one parameter, the loop
    iterates over one list); on Step Functions the Choice compares each option where it is the value, and a
    Choice stages the list the Map iterates over."""
    from typedflow.backends.stepfunctions.compiler import compile_definition
    from typedflow.backends.vertex.compiler import compile_spec

    from tests.support.vertex_spec import check, check_strict

    for wf in (flows.compared, flows.by_field, flows.two_choices, flows.items, flows.items_through_sub, flows.in_body):
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
    assert states[pick["Default"]]["Result"] == []  # neither list there (a None value): no items, as locally
