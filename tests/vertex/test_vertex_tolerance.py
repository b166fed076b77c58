"""``map_over(task, items, tolerated_failure=x)`` on Vertex: the item's task reports its last attempt's failure as
an output (placeholders for its values), a step after the loop puts None in each failed item's place, or fails
the run with ``typedflow.ToleratedFailureExceeded`` past ``floor(x * n)`` failed items, the rule every target
applies. Run under kfp.local against the local interpreter's outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.vertex.compiler import compile_spec

from tests.conftest import import_source
from tests.support import distributed_flows as flows
from tests.support.kfp import run_on_kfp_local
from typedflow.runtime.running import RunOptions, run_workflow


def _tasks(spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for comp in [spec["root"], *spec["components"].values()]:
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


def test_failed_items_within_the_tolerance_are_none_as_locally(tmp_path: Path) -> None:
    local = run_workflow(flows.tolerant, {"n": 30}, RunOptions(store=tmp_path / "local"))
    assert local.ok and local.outputs == {"out": [None if i % 10 == 3 else 2 * i for i in range(30)]}
    assert run_on_kfp_local(flows.tolerant, {"n": 30}, tmp_path / "kfp") == local.outputs
    # every failed attempt is in the run's lineage, as on every target
    records = [json.loads(p.read_text()) for p in (tmp_path / "kfp").rglob("lineage/**/*.json")]
    failed = sorted(r["error"] for r in records if r.get("kind") == "task" and r.get("status") == "failed")
    assert failed == [f"ValueError: item {i} fails" for i in (13, 23, 3)]


def test_a_later_task_of_a_failed_item_stands_down_as_locally(tmp_path: Path) -> None:
    local = run_workflow(flows.tolerant_chain, {"n": 20}, RunOptions(store=tmp_path / "local"))
    assert local.ok and local.outputs == {"out": [None if i % 10 == 3 else 2 * i + 1 for i in range(20)]}
    assert run_on_kfp_local(flows.tolerant_chain, {"n": 20}, tmp_path / "kfp") == local.outputs
    records = [json.loads(p.read_text()) for p in (tmp_path / "kfp").rglob("lineage/**/*.json")]
    ran = sorted((r["task"], r["status"]) for r in records if r.get("kind") == "task")
    # the failed items' second task stood down: no record of it, as it never ran
    assert ran.count(("fragile", "failed")) == 2 and ran.count(("settle", "succeeded")) == 18
    spec = compile_spec(flows.tolerant_chain.ir)
    second = _tasks(spec)["settle"]
    assert second["inputs"]["parameters"]["typedflow-failed-0"] == {
        "taskOutputParameter": {"producerTask": "fragile", "outputParameterKey": "typedflow-failed"}
    }


def test_more_failures_than_tolerated_fail_the_run(tmp_path: Path) -> None:
    assert not run_workflow(flows.intolerant, {"n": 30}, RunOptions(store=tmp_path / "local")).ok
    with pytest.raises(RuntimeError, match="FAILURE"):
        run_on_kfp_local(flows.intolerant, {"n": 30}, tmp_path / "kfp")
    (kept,) = (tmp_path / "kfp").rglob("runs/*/failure.json")
    failure = json.loads(kept.read_text())
    assert failure["error_type"] == "typedflow.ToleratedFailureExceeded" and failure["node"] == "map"
    assert failure["message"] == "3 of the 30 items of map map failed, 1 tolerated; item 3: ValueError: item 3 fails"


def test_the_item_reports_its_failure_and_is_never_cached() -> None:
    spec = compile_spec(flows.tolerant.ir)
    tasks = _tasks(spec)
    item = tasks["flaky"]
    assert item["cachingOptions"] == {"enableCache": False}
    outputs = spec["components"][item["componentRef"]["name"]]["outputDefinitions"]["parameters"]
    assert outputs["typedflow-failed"]["parameterType"] == "STRING"
    step = tasks["map-tolerance"]
    assert step["dependentTasks"] == ["map"]
    assert set(step["inputs"]["parameters"]) == {"out", "typedflow-failed-0"}
    plain = _tasks(compile_spec(flows.fan.ir))  # no tolerance: no failure output, no step after the loop
    assert not any(name.endswith("-tolerance") for name in plain)


_BODIES = """
from typedflow import TypedFile, map_over, task, workflow
from typedflow.formats import Text


@task
def write(x: int) -> TypedFile[Text] | None:
    out = TypedFile[Text].new()
    out.path.write_text(str(x))
    return out


@workflow
def files(xs: list[int]) -> list[TypedFile[Text] | None]:
    return map_over(write, xs, tolerated_failure=0.5)
"""


def test_an_optional_file_is_a_handle_a_failed_item_stands_in_for(tmp_path: Path) -> None:
    module = import_source(tmp_path, _BODIES)
    # an optional file is a parameter (its handle), which a failed item stands in for like any value
    spec = compile_spec(module.files.ir)
    outputs = spec["components"][_tasks(spec)["write"]["componentRef"]["name"]]["outputDefinitions"]
    assert "artifacts" not in outputs and set(outputs["parameters"]) == {"out", "typedflow-failed"}
