"""Tolerant maps on Vertex whose items hold a ``fail``, sub-workflows, ``when`` blocks or nested maps: every
executor of the item reports its failure as an output and stands down on the failures of what it reads
(``backends/vertex/guards.py``). Run under kfp.local against the local interpreter, within and past the
tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.vertex.compiler import compile_spec

from tests.support import tolerant_body_flows as flows
from tests.support.kfp import run_on_kfp_local
from typedflow.runtime.running import RunOptions, run_workflow

WITHIN = [
    flows.refuses,
    flows.refuses_all,
    flows.calls_after_failure,
    flows.calls_failing,
    flows.refuses_after_call,
    flows.branches_on_failed,
    flows.fails_in_branch,
    flows.calls_branching,
    flows.nested_plain,
    flows.nested_tolerant,
    flows.nested_over_failed,
    flows.writes,
    flows.writes_after_failure,
    flows.nested_files,
    flows.nested_files_mapped,
]


def _records(root: Path) -> list[dict[str, Any]]:
    return [r for p in root.rglob("lineage/**/*.json") if (r := json.loads(p.read_text())).get("kind") == "task"]


@pytest.mark.parametrize("wf", WITHIN, ids=lambda w: w.ir.workflow.name)
def test_failed_items_within_the_tolerance_are_none_as_locally(wf: Any, tmp_path: Path, nulls_in_lists: None) -> None:
    local = run_workflow(wf, {"n": 4}, RunOptions(store=tmp_path / "local"))
    assert local.ok, local
    out = local.outputs["out"]
    assert None in out and (wf is flows.refuses_all or any(x is not None for x in out))
    assert run_on_kfp_local(wf, {"n": 4}, tmp_path / "kfp") == local.outputs
    # every failed attempt of a task is in the run's lineage, as on every target
    failed = sorted(r["error"] for r in _records(tmp_path / "kfp") if r["status"] == "failed")
    twice = ["ValueError: item 2 fails"] * 2  # nested: the inner item 2 of the outer items 2 and 3
    expected = {flows.refuses: [], flows.refuses_all: [], flows.nested_tolerant: twice, flows.nested_plain: twice}
    expected.update({flows.nested_files: twice, flows.nested_files_mapped: twice})
    assert failed == expected.get(wf, ["ValueError: item 2 fails"])


def test_what_reads_a_failed_value_stands_down_and_writes_no_record(tmp_path: Path) -> None:
    assert run_on_kfp_local(flows.calls_after_failure, {"n": 4}, tmp_path) == {"out": [101, 103, None, 107]}
    ran = sorted((r["task"], r["status"]) for r in _records(tmp_path))
    # item 2's fragile failed: the sub-workflow's two tasks and the settle after them never ran for it
    assert ran == sorted(
        [("numbers", "succeeded"), ("fragile", "failed")] + [(t, "succeeded") for t in ("fragile", "inc", "settle")] * 3
    )


@pytest.mark.parametrize("wf", [flows.branch_reads_failed, flows.body_reads_failed], ids=lambda w: w.ir.workflow.name)
def test_a_block_reading_a_failed_value_never_starts_as_locally(wf: Any, tmp_path: Path, nulls_in_lists: None) -> None:
    """A `when` block or an inner map one of whose tasks reads a failed value: locally none of it starts, so its
    other tasks (reading nothing that failed) run on Vertex neither: the same task records on both."""
    store = tmp_path / "local"
    # (no cache: Vertex never caches the executors of a tolerant item, so every task there runs)
    local = run_workflow(wf, {"n": 4}, RunOptions(store=store, use_cache=False))
    assert local.ok and local.outputs["out"][2] is None
    lines = [json.loads(line) for line in (store / "lineage" / "log.jsonl").read_text().splitlines()]
    ran = sorted((x["task"], x["status"]) for x in lines if x["kind"] == "task" and x["status"] != "skipped")
    assert ("neg", "succeeded") in ran
    assert run_on_kfp_local(wf, {"n": 4}, tmp_path / "kfp") == local.outputs
    assert sorted((r["task"], r["status"]) for r in _records(tmp_path / "kfp")) == ran


PAST = {
    flows.refuses_past: "item 2: typedflow.Fail: item 2 is refused",
    flows.calls_failing_past: "item 2: ValueError: item 2 fails",
    flows.writes_past: "item 2: ValueError: item 2 fails",
    flows.nested_past: (
        "item 2: typedflow.ToleratedFailureExceeded: 1 of the 3 items of map map-2 failed, 0 tolerated; "
        "item 2: ValueError: item 2 fails"
    ),
    flows.nested_files_past: (
        "item 2: typedflow.ToleratedFailureExceeded: 1 of the 3 items of map map-2 failed, 0 tolerated; "
        "item 2: ValueError: item 2 fails"
    ),
}


@pytest.mark.parametrize("wf", list(PAST), ids=lambda w: w.ir.workflow.name)
def test_more_failed_items_than_tolerated_fail_the_run(wf: Any, tmp_path: Path) -> None:
    assert not run_workflow(wf, {"n": 4}, RunOptions(store=tmp_path / "local")).ok
    with pytest.raises(RuntimeError, match="FAILURE"):
        run_on_kfp_local(wf, {"n": 4}, tmp_path / "kfp")
    (kept,) = (tmp_path / "kfp").rglob("runs/*/failure.json")
    failure = json.loads(kept.read_text())
    assert failure["error_type"] == "typedflow.ToleratedFailureExceeded" and failure["node"] == "map"
    n_failed = 2 if wf in (flows.nested_past, flows.nested_files_past) else 1
    assert failure["message"] == f"{n_failed} of the 4 items of map map failed, 0 tolerated; {PAST[wf]}"


def _tasks(spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for comp in [spec["root"], *spec["components"].values()]:
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


def test_a_branch_never_runs_on_a_failed_value_and_nothing_is_cached() -> None:
    spec = compile_spec(flows.branches_on_failed.ir)
    tasks = _tasks(spec)
    conditions = sorted(t["triggerPolicy"]["condition"] for t in tasks.values() if "triggerPolicy" in t)
    flag = "inputs.parameter_values['pipelinechannel--fragile-failed'] == ''"
    # both branches need fragile's flag clear; a third, when it is set, passes its failure on
    assert len(conditions) == 3 and all(flag in c for c in conditions)
    assert f"!({flag})" in conditions
    # every executor reporting a failure (in the item) is never cached: Vertex would hand a failure on as a result
    reporting = [
        t
        for t in tasks.values()
        if "typedflow-failed"
        in spec["components"][t["componentRef"]["name"]].get("outputDefinitions", {}).get("parameters", {})
        and "dag" not in spec["components"][t["componentRef"]["name"]]
    ]
    assert len(reporting) >= 4 and all(t["cachingOptions"] == {"enableCache": False} for t in reporting)
    # the sub-workflow's tasks check the flag of the value it is called with
    sub = _tasks(compile_spec(flows.calls_after_failure.ir))
    assert sub["inc"]["inputs"]["parameters"]["typedflow-failed-0"] == {"componentInputParameter": "typedflow-failed-0"}


def test_files_an_inner_map_collects_in_a_tolerant_item_go_on_as_handles() -> None:
    """Its tolerance step passes on parameters only: each item's file goes on as its handle (a value task that
    stands down with the task that wrote it), and the step's list is a parameter list of them."""
    spec = compile_spec(flows.nested_files.ir)
    tolerance = spec["components"]["comp-map-2-tolerance"]["inputDefinitions"]
    assert tolerance["parameters"]["out"]["parameterType"] == "LIST" and "artifacts" not in tolerance
    tasks = _tasks(spec)
    handle = next(t for name, t in tasks.items() if name.startswith("value-"))
    assert handle["inputs"]["artifacts"]["value"]["taskOutputArtifact"]["producerTask"] == "write"
    flags = handle["inputs"]["parameters"]  # the map's own guard (what its items came from), then write's
    assert flags["typedflow-failed-0"] == {"componentInputParameter": "pipelinechannel--upto-failed"}
    assert flags["typedflow-failed-1"]["taskOutputParameter"] == {
        "producerTask": "write",
        "outputParameterKey": "typedflow-failed",
    }
    assert tasks["sizes"]["inputs"]["parameters"]["fs"]["taskOutputParameter"]["producerTask"] == "map-2-tolerance"


def test_a_task_of_a_failed_item_stands_in_for_its_file(tmp_path: Path) -> None:
    """What a stood-down task writes for a file output: an empty file where Vertex uploads it, marked."""
    from tests.security.test_vertex_entrypoint import _args, _run

    args = _args(flows.writes_after_failure, "exec-note")
    uri = tmp_path / "out" / "note" / "out"
    failure = json.dumps({"error_type": "ValueError", "message": "item 2 fails"})
    executor_input = {
        "inputs": {"parameterValues": {"x": 0, "typedflow-failed-0": failure}},
        "outputs": {
            "outputFile": str(tmp_path / "out" / "executor_output.json"),
            "artifacts": {"out": {"artifacts": [{"name": "out", "uri": str(uri), "type": {"schemaTitle": "x"}}]}},
        },
    }
    assert _run(args, json.dumps(executor_input), tmp_path) == 0
    written = json.loads((tmp_path / "out" / "executor_output.json").read_text())
    assert written["parameterValues"] == {"typedflow-failed": failure}
    (art,) = written["artifacts"]["out"]["artifacts"]
    assert art["metadata"] == {"typedflow-stand-in": True} and uri.read_bytes() == b""
    assert not list(tmp_path.rglob("lineage/**/*.json"))  # it never ran


def test_a_failure_flag_that_is_not_a_string_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A flag an executor reads crosses a trust boundary: anything but a string exits 2 naming it (never read as
    'did not fail', never a traceback), for a task and a value task alike."""
    from tests.security.test_vertex_entrypoint import _args, _executor_input, _run

    cases: list[tuple[Any, str, dict[str, Any]]] = [
        (flows.calls_after_failure, "exec-inc", {"x": 1}),
        (flows.branches_on_failed, "exec-value-1", {"value": ""}),
    ]
    for wf, label, params in cases:
        for bad in (5, ["x"], {"error_type": "E"}):
            code = _run(_args(wf, label), _executor_input(tmp_path, {**params, "typedflow-failed-0": bad}), tmp_path)
            err = capsys.readouterr().err
            assert code == 2 and "failure flag 'typedflow-failed-0' must be a string" in err, (label, bad, err)
            assert "Traceback" not in err
