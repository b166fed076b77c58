"""A failing ``map_over`` item does not stop an ``exit_handler`` block running in a sibling item: every item
runs and every block's handler runs on Step Functions (moto's engine) as on the local interpreter; the run
then fails with the first failed item's error. Maps without an exit handler compile as before."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.stepfunctions.compiler import compile_definition

from tests.support import item_handler_flows as flows
from tests.support.aws import Aws
from typedflow import map_over, task, workflow
from typedflow.runtime.running import RunOptions, run_workflow


def _marks(d: Path) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(d.iterdir())}


def _settled(d: Path, want: set[str], seconds: float = 5) -> dict[str, Any]:
    """The marks once those in ``want`` are there (a stopped item's task may still finish on the worker)."""
    deadline = time.monotonic() + seconds
    while not want <= {p.name for p in d.iterdir()} and time.monotonic() < deadline:
        time.sleep(0.05)
    return _marks(d)


CASES = [
    # the failing items come first, their siblings are still running when they fail
    (flows.handled_items, {"xs": [-1, 3, -2, 1]}, "item -1 fails"),  # item -2's handler gets its own failure
    (flows.handled_after_a_step, {"xs": [-1, 2]}, "item -1 fails"),
    (flows.nested_items, {"groups": [[-1], [2, 1]]}, "item -1 fails"),
    (flows.handled_distributed, {"xs": [2, -1, 1]}, "item -1 fails"),
]


@pytest.mark.parametrize(("wf", "inputs", "message"), CASES, ids=lambda v: getattr(v, "name", None) or "")
def test_every_items_handler_runs_as_locally(
    aws: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any], message: str
) -> None:
    local_marks, remote_marks = tmp_path / "local", tmp_path / "sfn"
    local_marks.mkdir()
    remote_marks.mkdir()
    local = run_workflow(wf, {**inputs, "marks": str(local_marks)}, RunOptions(store=tmp_path / "s"))
    assert not local.ok and local.failures[0].error_type == "ValueError"
    expected = _marks(local_marks)
    remote = aws.run(wf.ir, {**inputs, "marks": str(remote_marks)})
    assert (remote.status, remote.error) == ("FAILED", "ValueError")
    assert message in (remote.cause or "")
    seen = _settled(remote_marks, set(expected))
    assert sorted(seen) == sorted(expected)
    for name, failure in expected.items():  # a handler sees None after its block succeeded, else its item's failure
        if name.startswith("closed"):
            assert seen[name] == failure, name
            if failure is not None:
                assert failure["error_type"] == "ValueError" and failure["node"].endswith("/step"), name


def test_every_items_handler_runs_under_kfp_local(tmp_path: Path) -> None:
    """Vertex: each item's exit-handler DAG runs its handler whatever its siblings do (kfp.local lets every
    iteration of a ParallelFor finish); the run fails."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vertex"))
    try:
        from kfp_harness import run_spec
    finally:
        sys.path.pop(0)
    from typedflow.backends.vertex import BACKEND

    marks = tmp_path / "marks"
    marks.mkdir()
    inputs = {"xs": [-1, 2, 1], "marks": str(marks)}
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.handled_items.ir, {"output": str(path)}))
    with pytest.raises(RuntimeError, match="FAILURE"):
        run_spec(path, inputs, tmp_path / "kfp")
    seen = _marks(marks)
    assert sorted(seen) == ["body1", "body2", "closed-1", "closed1", "closed2"]
    assert seen["closed1"] is None and seen["closed2"] is None
    assert seen["closed-1"] is not None  # (Vertex hands a handler the failed task's state, not its message)


def test_items_that_all_succeed_give_their_results(aws: Aws, tmp_path: Path) -> None:
    for target in ("local", "sfn"):
        marks = tmp_path / target
        marks.mkdir()
        inputs = {"xs": [2, 1, 0], "marks": str(marks)}
        if target == "local":
            r = run_workflow(flows.handled_items, inputs, RunOptions(store=tmp_path / "s"))
            assert r.ok, r.failures
            out: dict[str, Any] | None = r.outputs
        else:
            remote = aws.run(flows.handled_items.ir, inputs)
            assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
            out = remote.outputs
        assert out == {"out": 30}, target
        assert _marks(marks) == {
            **{f"body{x}": x for x in (0, 1, 2)},
            **{f"closed{x}": None for x in (0, 1, 2)},
        }, target
    empty = aws.run(flows.handled_items.ir, {"xs": [], "marks": str(tmp_path)})
    assert (empty.status, empty.outputs) == ("SUCCEEDED", {"out": 0})


# ----------------------------------------------------------------------------- the definition


def _states(definition: dict[str, Any]) -> dict[str, Any]:
    """Every state of the definition, nested graphs included."""
    out: dict[str, Any] = {}
    stack = [definition]
    while stack:
        g = stack.pop()
        for name, st in g["States"].items():
            out[name] = st
            stack.extend(st.get("Branches", []))
            if "ItemProcessor" in st:
                stack.append(st["ItemProcessor"])
    return out


@task
def _inc(x: int) -> int:
    return x + 1


@workflow
def _plain(xs: list[int]) -> list[int]:
    return map_over(_inc, xs)


def test_only_maps_holding_an_exit_handler_catch_their_items(aws: Aws) -> None:
    opts = aws.options()
    states = _states(compile_definition(flows.handled_items.ir, opts))
    (m,) = [s for s in states.values() if s["Type"] == "Map"]
    assert m["ResultSelector"] == {"out.$": "$", "failed.$": "$[*].__tf_failed__"}
    failed = m["ItemProcessor"]["States"]["map (item failed)"]
    assert failed["Parameters"] == {"__tf_failed__.$": "$.err"} and failed["End"] is True
    check = states[m["Next"]]
    assert check["Type"] == "Choice"
    assert [c["Variable"] for c in check["Choices"]] == ["$.n_map.failed[0]", "$.n_map.failed.Error"]
    assert [states[c["Next"]]["InputPath"] for c in check["Choices"]] == ["$.n_map.failed[0]", "$.n_map.failed"]
    plain = [s for s in _states(compile_definition(_plain.ir, opts)).values() if s["Type"] == "Map"]
    assert plain[0]["ResultSelector"] == {"out.$": "$"}
    assert not any(
        "(item failed)" in name or "(failed?)" in name for name in _states(compile_definition(_plain.ir, opts))
    )
