"""The compiled spec, loaded by kfp from the file, runs under kfp.local with the same outputs as the
local interpreter (task containers run on the host through a test-only adapter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import vertex_flows as flows
from kfp_harness import run_spec
from typedflow.backends.vertex import BACKEND

from typedflow.runtime.running import RunOptions, run_workflow


def both(
    wf: Any, inputs: dict[str, Any], tmp_path: Path, *, spec_inputs: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    local = run_workflow(wf.ir, inputs, RunOptions(store=tmp_path / "local"))  # inputs as typed JSON
    assert local.ok, local.failures
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    outs, warnings = run_spec(path, spec_inputs if spec_inputs is not None else inputs, tmp_path / "kfp")
    unresolved = [w for w in warnings if "Could not resolve" in w or "evaluation failed" in w]
    assert unresolved == [], "kfp.local skipped a condition it could not resolve"
    return local.outputs, outs, warnings


def test_chain(tmp_path: Path) -> None:
    local, vertex, _ = both(flows.chain, {"x": 3}, tmp_path)
    assert vertex == local == {"out": 12}


def test_diamond(tmp_path: Path) -> None:
    local, vertex, _ = both(flows.diamond, {"x": 3}, tmp_path)
    assert vertex == local == {"out": 30.0}


def test_map_over_with_fan_in(tmp_path: Path) -> None:
    local, vertex, _ = both(flows.fan, {"n": 5}, tmp_path)
    assert vertex == local == {"out": 20}


@pytest.mark.parametrize(("x", "ran"), [(3, {"small"}), (8, {"big"}), (2, {"small", "four"})])
def test_when_otherwise_runs_exactly_the_taken_branches(x: int, ran: set[str], tmp_path: Path) -> None:
    local_marks, vertex_marks = tmp_path / "lm", tmp_path / "vm"
    local_marks.mkdir()
    vertex_marks.mkdir()
    local = run_workflow(flows.branch, {"x": x, "marks": str(local_marks)}, RunOptions(store=tmp_path / "l"))
    path = tmp_path / "spec.json"
    path.write_text(BACKEND.compile(flows.branch.ir, {"output": str(path)}))
    vertex, warnings = run_spec(path, {"x": x, "marks": str(vertex_marks)}, tmp_path / "kfp")
    assert not [w for w in warnings if "Could not resolve" in w]
    assert vertex == local.outputs == {"out": 2 * x}
    assert {p.name for p in local_marks.iterdir()} == ran
    assert {p.name for p in vertex_marks.iterdir()} == ran


def test_retried_task(tmp_path: Path) -> None:
    (tmp_path / "lc").mkdir()
    (tmp_path / "vc").mkdir()
    local = run_workflow(flows.retried, {"counter_dir": str(tmp_path / "lc")}, RunOptions(store=tmp_path / "l"))
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.retried.ir, {"output": str(path)}))
    vertex, _ = run_spec(path, {"counter_dir": str(tmp_path / "vc")}, tmp_path / "kfp")
    assert vertex == local.outputs == {"out": 13}
    assert len(list((tmp_path / "vc").iterdir())) == 3


def test_fixed_and_variadic_tuples(tmp_path: Path) -> None:
    local, vertex, _ = both(flows.tuples, {"s": "ab", "dims": [3, 4]}, tmp_path)
    assert vertex == local == {"out": ["ab", "2", "A", "B", "3", "4"]}


def test_typed_file_between_tasks(tmp_path: Path) -> None:
    local, vertex, _ = both(flows.files, {"rows": 7}, tmp_path)
    assert vertex == local == {"out": 7}
    arts = list((tmp_path / "kfp").rglob("write-csv/out"))
    assert arts and arts[0].read_text().startswith("a,b\n")


def test_records_namedtuples_and_conditions_on_fields(tmp_path: Path) -> None:
    cfg = {"name": "cfg", "threshold": 1.0}
    local, vertex, _ = both(flows.records, {"n": 4, "cfg": cfg}, tmp_path)
    assert vertex == local == {"mean": 1.5, "count": 4}


def test_nested_subworkflow_map_closure_and_fields(tmp_path: Path) -> None:
    cfg = {"name": "cfg", "threshold": 1.0}
    local, vertex, _ = both(flows.nested, {"n": 3, "cfg": cfg}, tmp_path)
    assert vertex == local


def test_blocks_that_end_as_their_last_node_is_launched(tmp_path: Path) -> None:
    # Untaken `when`s end sub-workflows inside a map (no empty inner map: kfp.local fails on those,
    # see docs/vertex.md; the local interpreter and Step Functions are compared on them).
    from tests.support import settle_flows

    local, vertex, _ = both(settle_flows.settles_at_launch, {"xs": [1, 10, 2], "ns": [2, 3]}, tmp_path)
    assert vertex == local == {"out": [[2, 11, 3], [3, 6]]}


def test_tasks_see_the_run_context_they_see_locally(tmp_path: Path) -> None:
    # typedflow.current_run() in a task: the same workflow, node, attempt and IR digest as on the local
    # interpreter; its own target, and the pipeline job as the run id (as the lineage records name it)
    from tests.support import context_flows

    wf = context_flows.context_plain
    local, vertex, _ = both(wf, {"x": 2, "y": 3}, tmp_path)
    assert local["first"] == f"context_plain|whereabouts|1|{wf.ir.digest}|2"
    assert local["second"] == f"context_plain|whereabouts-2|1|{wf.ir.digest}|3"
    assert {k: vertex[k] for k in ("first", "second")} == {k: local[k] for k in ("first", "second")}
    records = [json.loads(p.read_text()) for p in (tmp_path / "kfp").rglob("typedflow/lineage/*/*.json")]
    (run_id,) = {r["run_id"] for r in records}
    assert vertex["target"] == f"vertex|{run_id}|2"
    # a map item's node is the node's own id on Vertex (docs/concepts.md), its instance key locally
    mapped = context_flows.context_mapped
    local, vertex, _ = both(mapped, {"xs": [5, 6]}, tmp_path / "mapped")
    digest = mapped.ir.digest
    assert local == {"out": [f"context_mapped|map[{i}]/whereabouts|1|{digest}|{x}" for i, x in enumerate([5, 6])]}
    assert vertex == {"out": [f"context_mapped|whereabouts|1|{digest}|{x}" for x in [5, 6]]}


def test_lineage_records_are_written_next_to_the_artifacts(tmp_path: Path) -> None:
    both(flows.chain, {"x": 1}, tmp_path)
    records = [json.loads(p.read_text()) for p in (tmp_path / "kfp").rglob("typedflow/lineage/*/*.json")]
    assert sorted(r["node_id"] for r in records) == ["add", "add-2", "double"]
    assert {(r["target"], r["executor"], r["status"]) for r in records} == {("vertex", "vertex-container", "succeeded")}
    assert sys.modules["vertex_flows"] is flows


def test_on_failure_runs_as_exit_handler_only_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.guarded.ir, {"output": str(path)}))
    ok, _ = run_spec(path, {"x": 2}, tmp_path / "ok")
    assert ok == {"out": 2}
    with pytest.raises(RuntimeError):
        run_spec(path, {"x": -1}, tmp_path / "bad")
    ran = {
        json.loads(p.read_text())["task"]: json.loads(p.read_text())["status"]
        for p in (tmp_path / "bad").rglob("typedflow/lineage/*/*.json")
    }
    assert ran == {"boom": "failed", "notify": "succeeded"}
    assert {json.loads(p.read_text())["task"] for p in (tmp_path / "ok").rglob("lineage/*/*.json")} == {"boom"}
    local = run_workflow(flows.guarded.ir, {"x": -1}, RunOptions(store=tmp_path / "l"))
    assert not local.ok and any(n.task == "notify" and n.status == "succeeded" for n in local.nodes)


def test_on_failure_handler_keeps_its_retry_policy(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.guarded_flaky.ir, {"output": str(path)}))
    for d in ("lc", "vc"):
        (tmp_path / d).mkdir()
    with pytest.raises(RuntimeError):
        run_spec(path, {"x": -1, "counter_dir": str(tmp_path / "vc")}, tmp_path / "bad")
    records = sorted(
        (json.loads(p.read_text()) for p in (tmp_path / "bad").rglob("typedflow/lineage/*/*.json")),
        key=lambda r: (r["task"], r["attempt"]),
    )
    assert [(r["task"], r["attempt"], r["status"]) for r in records] == [
        ("boom", 1, "failed"),
        ("notify_flaky", 1, "failed"),
        ("notify_flaky", 2, "succeeded"),
    ]
    local = run_workflow(
        flows.guarded_flaky.ir, {"x": -1, "counter_dir": str(tmp_path / "lc")}, RunOptions(store=tmp_path / "l")
    )
    handler = next(n for n in local.nodes if n.task == "notify_flaky")
    assert (handler.status, handler.attempts) == ("succeeded", 2)
    assert sorted(p.name for p in (tmp_path / "lc").iterdir()) == sorted(p.name for p in (tmp_path / "vc").iterdir())


def _marked(wf: Any, x: int, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], set[str], set[str]]:
    """Runs ``wf(x, marks)`` locally and under kfp.local; (outputs, outputs, marks, marks)."""
    lm, vm = tmp_path / "lm", tmp_path / "vm"
    lm.mkdir()
    vm.mkdir()
    local = run_workflow(wf.ir, {"x": x, "marks": str(lm)}, RunOptions(store=tmp_path / "l"))
    assert local.ok, local.failures
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    vertex, warnings = run_spec(path, {"x": x, "marks": str(vm)}, tmp_path / "kfp")
    assert not [w for w in warnings if "Could not resolve" in w or "evaluation failed" in w]
    return local.outputs, vertex, {p.name for p in lm.iterdir()}, {p.name for p in vm.iterdir()}


@pytest.mark.parametrize(("x", "out", "ran"), [(5, "y=10", {"big", "consume"}), (1, "y=None", {"consume"})])
def test_value_from_a_when_branch_used_after_it(x: int, out: str, ran: set[str], tmp_path: Path) -> None:
    local, vertex, lm, vm = _marked(flows.escapes, x, tmp_path)
    assert vertex == local == {"out": out}
    assert lm == vm == ran
    assert (tmp_path / "vm" / "consume").read_text() == out[2:]


@pytest.mark.parametrize(("x", "out", "ran"), [(5, "sum:10", {"big"}), (1, "sum:101", {"small"})])
def test_values_from_both_arms_used_after_them(x: int, out: str, ran: set[str], tmp_path: Path) -> None:
    local, vertex, lm, vm = _marked(flows.either, x, tmp_path)
    assert vertex == local == {"out": out}
    assert lm == vm == ran


@pytest.mark.parametrize(("x", "out", "ran"), [(5, 10, {"big"}), (1, None, set())])
def test_workflow_returns_a_branch_value(x: int, out: int | None, ran: set[str], tmp_path: Path) -> None:
    local, vertex, lm, vm = _marked(flows.picked, x, tmp_path)
    assert vertex == local == {"out": out}
    assert lm == vm == ran


@pytest.mark.parametrize(("x", "out", "ran"), [(5, "deep:15", {"big"}), (2, "deep:2", set()), (0, "deep:0", set())])
def test_values_escaping_nested_whens_and_a_map(x: int, out: str, ran: set[str], tmp_path: Path) -> None:
    local, vertex, lm, vm = _marked(flows.deep, x, tmp_path)
    assert vertex == local == {"out": out}
    assert lm == vm == ran
