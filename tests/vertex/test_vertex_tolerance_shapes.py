"""Tolerant maps on Vertex (kfp.local) against the local interpreter, for bodies and placements beyond the
single task the feature's own tests run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.support.kfp import run_on_kfp_local
from typedflow import after, map_over, task, when, workflow
from typedflow.runtime.running import RunOptions, run_workflow


class Pair(NamedTuple):
    a: int
    b: int | None


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def pair(x: int) -> Pair:
    if x == 2:
        raise ValueError(f"item {x} fails")
    return Pair(x, 10 * x)


@task
def maybe(x: int) -> int | None:
    if x == 2:
        raise ValueError(f"item {x} fails")
    return None if x == 1 else x


@task
def first(x: int) -> int | None:
    if x == 2:
        raise ValueError(f"item {x} fails")
    return x


@task
def second(x: int) -> int | None:
    return x + 100


@task
def count(xs: list[int | None]) -> int:
    return sum(1 for x in xs if x is None)


@workflow
def named_second(n: int) -> list[int | None]:
    return map_over(lambda x: pair(x).b, numbers(n), tolerated_failure=0.5)


@workflow
def returns_none(n: int) -> list[int | None]:
    return map_over(maybe, numbers(n), tolerated_failure=0.5)


@workflow
def empty(n: int) -> list[int | None]:
    return map_over(maybe, numbers(0), tolerated_failure=0.5)


def _ordered(x: int) -> int | None:
    a = first(x)
    with after(a):
        b = second(x)
    return b


@workflow
def ordered(n: int) -> list[int | None]:
    return map_over(_ordered, numbers(n), tolerated_failure=0.5)


@task
def count2(xs: list[int | None], ys: list[int | None]) -> int:
    return 10 * sum(1 for x in xs if x is None) + sum(1 for y in ys if y is None)


@workflow
def two_maps(n: int) -> int:
    xs = map_over(maybe, numbers(n), tolerated_failure=0.5)
    ys = map_over(first, numbers(n), tolerated_failure=0.5)
    return count2(xs, ys)


@workflow
def sub(n: int) -> list[int | None]:
    return map_over(maybe, numbers(n), tolerated_failure=0.5)


@workflow
def calls_sub(n: int) -> int:
    return count(sub(n))


@workflow
def in_branch(n: int) -> int | None:
    out = None
    with when(n > 1):
        out = count(map_over(maybe, numbers(n), tolerated_failure=0.5))
    return out


CASES = [named_second, returns_none, ordered, two_maps, calls_sub, in_branch]


@pytest.fixture(autouse=True)
def _nulls(nulls_in_lists: None) -> None:
    """kfp.local cannot hand a task a list holding a null: let it, in this module (see conftest)."""


@pytest.mark.parametrize("wf", CASES, ids=lambda w: w.ir.workflow.name)
def test_vertex_matches_the_local_interpreter(wf: Any, tmp_path: Path) -> None:
    local = run_workflow(wf, {"n": 4}, RunOptions(store=tmp_path / "local"))
    assert local.ok, local
    assert run_on_kfp_local(wf, {"n": 4}, tmp_path / "kfp") == local.outputs


def test_the_tolerance_step_checks_the_results_and_flags_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the loop hands the step after it crosses a trust boundary: results not of the map's result type, or
    a failure flag that is not a string, exit 2 naming the problem (never passed on, never read as success)."""
    from tests.security.test_vertex_entrypoint import _args, _executor_input, _run
    from tests.support import distributed_flows

    args = _args(distributed_flows.tolerant, "exec-map-tolerance")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"out": ["a"], "typedflow-failed-0": [""]}, "results of map map"),
        ({"out": [1.5], "typedflow-failed-0": [""]}, "results of map map"),
        ({"out": [1], "typedflow-failed-0": [0]}, "failure flag"),
        ({"out": [1], "typedflow-failed-0": [None]}, "failure flag"),
    ]
    for params, problem in cases:
        assert _run(args, _executor_input(tmp_path, params), tmp_path) == 2, params
        err = capsys.readouterr().err
        assert problem in err and "Traceback" not in err, err
    assert (
        _run(args, _executor_input(tmp_path, {"out": [1, None, 2.0], "typedflow-failed-0": ["", "", ""]}), tmp_path)
        == 0
    )
