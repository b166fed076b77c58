"""map_over(tolerated_failure=...): failed items within the share leave None in their place; past it the
map fails. The element type must be Optional (definition time); the IR keeps both options."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import import_source
from tests.stepfunctions.conftest import run_local
from tests.support import distributed_flows as flows
from typedflow import ir
from typedflow.errors import WorkflowDefinitionError
from typedflow.ir import codec
from typedflow.runtime.tolerance import tolerated_percentage


def test_failed_items_within_the_tolerance_are_none(tmp_path: Path) -> None:
    r = run_local(flows.tolerant, {"n": 30}, tmp_path)  # items 3, 13, 23 fail: 10 %, as tolerated
    assert r.ok
    assert r.outputs == {"out": [None if i % 10 == 3 else 2 * i for i in range(30)]}


def test_more_failures_than_tolerated_fail_the_map(tmp_path: Path) -> None:
    r = run_local(flows.intolerant, {"n": 30}, tmp_path)  # 3 of 30 failed, 1 tolerated
    assert not r.ok
    assert sorted(n.key for n in r.nodes if n.status == "failed") == ["map[13]/flaky", "map[23]/flaky", "map[3]/flaky"]


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=40), st.sampled_from([0.0, 0.05, 0.1, 0.29, 0.5, 1 / 3, 0.7, 1.0]))
def test_the_map_fails_exactly_past_the_tolerated_share(
    tmp_path_factory: pytest.TempPathFactory, n: int, share: float
) -> None:
    src = (
        "from typedflow import map_over, task, workflow\n"
        "from tests.support.distributed_flows import numbers, flaky\n\n"
        "@workflow\ndef w(n: int) -> list[int | None]:\n"
        f"    return map_over(flaky, numbers(n), tolerated_failure={share})\n"
    )
    tmp = tmp_path_factory.mktemp("tol")
    wf = import_source(tmp, src).w
    failed = sum(1 for i in range(n) if i % 10 == 3)
    r = run_local(wf, {"n": n}, tmp)
    # Step Functions fails when the failed percentage is above ToleratedFailurePercentage = share * 100, the
    # share read as the decimal written (0.29 is 29 %): exactly, failed * 100 > P * n
    percentage = Fraction(repr(tolerated_percentage(share)))
    assert r.ok == (Fraction(failed * 100) <= percentage * n)


def test_tolerated_failure_needs_an_optional_result(tmp_path: Path) -> None:
    src = (
        "from typedflow import map_over, task, workflow\n"
        "from tests.support.distributed_flows import numbers, square\n\n"
        "@workflow\ndef w(n: int) -> list[int]:\n    return map_over(square, numbers(n), tolerated_failure=0.1)\n"
    )
    with pytest.raises(WorkflowDefinitionError, match="must return an Optional"):
        import_source(tmp_path, src)


@pytest.mark.parametrize(
    ("option", "message"),
    [("tolerated_failure=1.5", "a number from 0 to 1"), ("distributed='yes'", 'True, False or "auto"')],
)
def test_bad_options_are_definition_errors(tmp_path: Path, option: str, message: str) -> None:
    src = (
        "from typedflow import map_over, task, workflow\n"
        "from tests.support.distributed_flows import numbers, flaky\n\n"
        f"@workflow\ndef w(n: int) -> list[int | None]:\n    return map_over(flaky, numbers(n), {option})\n"
    )
    with pytest.raises(WorkflowDefinitionError, match=message):
        import_source(tmp_path, src)


def test_the_ir_keeps_the_options_and_old_documents_their_bytes() -> None:
    doc = flows.tolerant.ir
    again = codec.loads(codec.dumps(doc))
    (m,) = [n for n in again.workflow.nodes if isinstance(n, ir.MapNode)]
    assert (m.distributed, m.tolerated_failure) == (False, 0.1)
    fan = next(n for n in flows.fan.ir.workflow.nodes if isinstance(n, ir.MapNode))
    assert fan.distributed is True
    plain = next(n for n in codec.to_data(flows.auto.ir)["workflow"]["nodes"] if n["kind"] == "map")
    assert plain["distributed"] == "auto" and "tolerated_failure" not in plain  # defaults are not written


def test_vertex_compiles_a_distributed_map_as_a_loop() -> None:
    from typedflow.backends.vertex.compiler import compile_spec

    assert "for-loop" in json.dumps(compile_spec(flows.fan.ir))  # distributed: a ParallelFor as ever
