"""Failure handlers inside the items of a tolerant map on Vertex: a sub-workflow's ``on_failure`` and an
``exit_handler`` block run as ordinary executors reading the failure flags of what they handle
(``backends/vertex/item_handlers.py``). Run under kfp.local against the local interpreter, within and past the
tolerance: the same outputs, the same handlers run with the same ``Failure``, the same task records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.vertex.compiler import compile_spec

from tests.support import tolerant_handler_flows as flows
from tests.support.kfp import run_on_kfp_local
from typedflow.runtime.running import RunOptions, RunResult, run_workflow


def _marks(d: Path) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(d.iterdir())}


def _local(wf: Any, tmp_path: Path) -> tuple[RunResult, dict[str, Any], list[tuple[str, str, str | None]]]:
    marks = tmp_path / "local-marks"
    marks.mkdir()
    store = tmp_path / "local"
    # (no cache: Vertex never caches the executors of a tolerant item, so every task there runs)
    r = run_workflow(wf, {"n": 4, "marks": str(marks)}, RunOptions(store=store, use_cache=False))
    lines = [json.loads(line) for line in (store / "lineage" / "log.jsonl").read_text().splitlines()]
    ran = [(x["task"], x["status"], x["error"]) for x in lines if x["kind"] == "task" and x["status"] != "skipped"]
    return r, _marks(marks), sorted(ran, key=repr)


def _kfp_marks(tmp_path: Path) -> Path:
    marks = tmp_path / "kfp-marks"
    marks.mkdir()
    return marks


def _kfp_records(root: Path) -> list[tuple[str, str, str | None]]:
    records = [json.loads(p.read_text()) for p in root.rglob("lineage/**/*.json")]
    return sorted(((r["task"], r["status"], r["error"]) for r in records if r.get("kind") == "task"), key=repr)


RAN = {
    flows.calls_guarded: ["failed-2"],
    flows.calls_guarded_on_failed: ["failed-2"],  # item 1 calls it with 2; item 2 never calls it
    flows.calls_guarded_badly: ["failed-2"],
    flows.closes: ["closed-0", "closed-1", "closed-2", "closed-3"],
    flows.closes_on_failed: ["closed-0", "closed-1", "closed-3"],  # item 2's block never ran
    flows.closes_badly: ["closed-0", "closed-1", "closed-2", "closed-3"],
}
WITHIN = [
    flows.calls_guarded,
    flows.calls_guarded_on_failed,
    flows.calls_guarded_badly,
    flows.closes,
    flows.closes_on_failed,
    flows.closes_badly,
]


@pytest.mark.parametrize("wf", WITHIN, ids=lambda w: w.ir.workflow.name)
def test_handlers_in_tolerant_items_run_as_locally(wf: Any, tmp_path: Path, nulls_in_lists: None) -> None:
    local, local_marks, local_ran = _local(wf, tmp_path)
    assert local.ok, local.failures
    assert None in local.outputs["out"]
    # an on_failure handler ran on the sub-workflow that failed; an exit handler on every item whose block ran
    assert sorted(local_marks) == RAN[wf]
    marks = _kfp_marks(tmp_path)
    assert run_on_kfp_local(wf, {"n": 4, "marks": str(marks)}, tmp_path / "kfp") == local.outputs
    # each handler that ran locally ran, with the Failure (its node, error type and message) it got locally
    assert _marks(marks) == local_marks
    # the same tasks ran, handlers included, and failed with the same errors (a failed handler too)
    assert _kfp_records(tmp_path / "kfp") == local_ran


@pytest.mark.parametrize("wf", [flows.calls_guarded_past, flows.closes_past], ids=lambda w: w.ir.workflow.name)
def test_past_the_tolerance_the_handlers_ran_and_the_run_fails(wf: Any, tmp_path: Path) -> None:
    local, local_marks, _ = _local(wf, tmp_path)
    assert not local.ok
    marks = _kfp_marks(tmp_path)
    with pytest.raises(RuntimeError, match="FAILURE"):
        run_on_kfp_local(wf, {"n": 4, "marks": str(marks)}, tmp_path / "kfp")
    assert _marks(marks) == local_marks
    (kept,) = (tmp_path / "kfp").rglob("runs/*/failure.json")
    failure = json.loads(kept.read_text())
    assert failure["error_type"] == "typedflow.ToleratedFailureExceeded" and failure["node"] == "map"
    assert failure["message"] == "1 of the 4 items of map map failed, 0 tolerated; item 2: ValueError: item 2 fails"


def _tasks(spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for comp in [spec["root"], *spec["components"].values()]:
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


@pytest.mark.parametrize(
    ("wf", "handler"), [(flows.calls_guarded, "mark-failure-on-failure"), (flows.closes, "closing-on-failure")]
)
def test_a_handler_in_a_tolerant_item_reads_the_flags_of_what_it_handles(wf: Any, handler: str) -> None:
    """No final status, no trigger policy (nothing there fails): the flags of every executor it handles, and an
    order after each; never cached."""
    spec = compile_spec(wf.ir)
    tasks = _tasks(spec)
    task = tasks[handler]
    params = task["inputs"]["parameters"]
    assert "status" not in params and "triggerPolicy" not in task
    assert task["cachingOptions"] == {"enableCache": False}
    caught = {k: v for k, v in params.items() if k.startswith("typedflow-caught-")}
    assert {v["taskOutputParameter"]["producerTask"] for v in caught.values()} >= {"fragile"}
    assert all(v["taskOutputParameter"]["outputParameterKey"] == "typedflow-failed" for v in caught.values())
    dag = next(c["dag"]["tasks"] for c in spec["components"].values() if handler in c.get("dag", {}).get("tasks", {}))
    assert set(task["dependentTasks"]) == set(dag) - {handler}


@pytest.mark.parametrize(
    ("wf", "label"), [(flows.calls_guarded, "exec-mark-failure-on-failure"), (flows.closes, "exec-closing-on-failure")]
)
def test_a_caught_failure_that_is_not_a_failure_is_refused(
    wf: Any, label: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flag a handler reads crosses a trust boundary: anything but '' or a JSON object's text exits 2 naming it
    (never a traceback, never run); a well-formed one is the Failure the handler gets."""
    from tests.security.test_vertex_entrypoint import _args, _executor_input, _run

    args = _args(wf, label)
    marks = tmp_path / "marks"
    marks.mkdir()
    for bad, says in [(5, "must be a string"), ("[1]", "is not a JSON object"), ("{x", "not JSON")]:
        params = {"x": 2, "marks": str(marks), "typedflow-caught-0": bad, "typedflow-failed-0": ""}
        assert _run(args, _executor_input(tmp_path, params), tmp_path) == 2, bad
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (bad, err)
    assert not list(marks.iterdir())
    failure = json.dumps({"error_type": "ValueError", "message": "item 2 fails", "node": "fragile"})
    params = {"x": 2, "marks": str(marks), "typedflow-caught-0": failure, "typedflow-failed-0": ""}
    assert _run(args, _executor_input(tmp_path, params), tmp_path) == 0
    seen = json.loads(next(marks.iterdir()).read_text())
    assert seen == {"node": "fragile", "error_type": "ValueError", "message": "item 2 fails"}
