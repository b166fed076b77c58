"""The whole ``Failure`` a handler gets when the run has more than one failure, compared across targets: an
exit handler gets its own block's first failure (also when the block failed inside a sub-workflow it calls,
after a failure outside the block), and items a ``tolerated_failure`` map let fail are never taken for the
failure of the run (``on_failure``, an exit handler and the reported failure name the node that failed it).
A ``fail(...)`` is named by its node's key, as locally (in map items with the item's index)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import handler_failure_flows as flows
from tests.support.aws import Aws
from tests.support.marks import marks_dir as _marks
from tests.support.marks import seen as _seen
from typedflow.runtime.running import RunOptions, run_workflow

SUB = (flows.block_fails_in_sub, {"x": 1, "seconds": 0.6})
TOLERATED = (flows.tolerated_then_failing, {"xs": [1, 2, 3, 4]})


def _local(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    marks = _marks(tmp_path, "local")
    r = run_workflow(wf, {**inputs, "marks": str(marks)}, RunOptions(store=tmp_path / "s", use_cache=False))
    assert not r.ok
    return r, _seen(marks)


EXPECTED = {
    "block_fails_in_sub": {
        # the block's own failure, not `early`'s (which came first); on_failure gets the run's first
        "closed": {"node": "inner_late/late", "error_type": "KeyError", "message": "'late 2'"},
        "on_failure": {"node": "early", "error_type": "ValueError", "message": "early 1"},
    },
    "tolerated_then_failing": {
        "closed": {"node": "explode", "error_type": "KeyError", "message": "'after 2 tolerated failures'"},
        "on_failure": {"node": "explode", "error_type": "KeyError", "message": "'after 2 tolerated failures'"},
    },
}


@pytest.mark.parametrize(("wf", "inputs"), [SUB, TOLERATED], ids=["sub", "tolerated"])
def test_local(tmp_path: Path, wf: Any, inputs: dict[str, Any]) -> None:
    r, seen = _local(wf, inputs, tmp_path)
    assert seen == EXPECTED[wf.name]
    assert r.failures[0].key == seen["on_failure"]["node"]


@pytest.fixture(params=["moto", "localstack"])
def engine(request: pytest.FixtureRequest) -> Aws:
    """moto in process, or LocalStack out of process (its worker processes, real HTTP, S3 and SQS)."""
    engine: Aws = request.getfixturevalue("aws" if request.param == "moto" else "localstack")
    return engine


@pytest.mark.parametrize(("wf", "inputs"), [SUB, TOLERATED], ids=["sub", "tolerated"])
def test_step_functions_as_locally(engine: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any]) -> None:
    """Each handler gets the same whole Failure as locally; `runs show` names the same node."""
    from typedflow.backends.stepfunctions.runs import SfnRuns

    aws = engine

    _, expected = _local(wf, inputs, tmp_path)
    marks = _marks(tmp_path, "sfn")
    remote = aws.run(wf.ir, {**inputs, "marks": str(marks)})
    assert remote.status == "FAILED"
    assert _seen(marks) == expected
    assert remote.error == expected["on_failure"]["error_type"]
    runs = SfnRuns(aws.sfn, aws.s3, aws.bucket)
    failure = runs.show(remote.arn).failure
    assert failure is not None
    assert (failure.node, failure.error_type, failure.message) == tuple(expected["on_failure"].values())


REFUSING = [
    (flows.refuses_at_top, {"x": 1}),
    (flows.block_refuses_in_sub, {"x": 1, "seconds": 0.6}),
    (flows.refuses_items, {"xs": [1, 2, 3]}),
    (flows.refuses_distributed, {"xs": [3, 1]}),
    (flows.refuses_nested, {"groups": [[1], [4, 1, 2]]}),
]
_REFUSED = {"error_type": "typedflow.Fail", "traceback": ""}
EXPECTED_REFUSED = {
    "refuses_at_top": {"on_failure": {"node": "fail", "error_type": "typedflow.Fail", "message": "x is too big"}},
    "block_refuses_in_sub": {
        "closed": {"node": "inner_refuses/fail", "error_type": "typedflow.Fail", "message": "refused inside"},
        "on_failure": {"node": "early", "error_type": "ValueError", "message": "early 1"},
    },
    "refuses_items": {  # every item's handler gets its own item's fail node
        "closed1": None,
        "closed2": {"node": "map[1]/fail", "message": "item refused", **_REFUSED},
        "closed3": {"node": "map[2]/fail", "message": "item refused", **_REFUSED},
    },
    "refuses_nested": {  # both items' indices
        "closed1": None,
        "closed2": {"node": "map[1]/map-2[2]/fail", "message": "item refused", **_REFUSED},
        "closed4": {"node": "map[1]/map-2[0]/fail", "message": "item refused", **_REFUSED},
    },
    "refuses_distributed": {
        "closed1": None,
        "closed3": {"node": "map[0]/fail", "message": "item refused", **_REFUSED},
        "on_failure": {"node": "map[0]/fail", "error_type": "typedflow.Fail", "message": "item refused"},
    },
}
# the failure `runs show` reports: the one that failed the run (a map's first failed item in item order)
REPORTED_REFUSED = {
    "refuses_at_top": ("fail", "typedflow.Fail", "x is too big"),
    "block_refuses_in_sub": ("early", "ValueError", "early 1"),
    "refuses_items": ("map[1]/fail", "typedflow.Fail", "item refused"),
    "refuses_distributed": ("map[0]/fail", "typedflow.Fail", "item refused"),
    "refuses_nested": ("map[1]/map-2[0]/fail", "typedflow.Fail", "item refused"),
}


@pytest.mark.parametrize(("wf", "inputs"), REFUSING, ids=lambda v: getattr(v, "name", None) or "")
def test_local_names_the_fail_node(tmp_path: Path, wf: Any, inputs: dict[str, Any]) -> None:
    r, seen = _local(wf, inputs, tmp_path)
    assert seen == EXPECTED_REFUSED[wf.name]
    assert REPORTED_REFUSED[wf.name] in [(f.key, f.error_type, f.message) for f in r.failures]


@pytest.mark.parametrize(("wf", "inputs"), REFUSING, ids=lambda v: getattr(v, "name", None) or "")
def test_step_functions_names_the_fail_node_as_locally(
    engine: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any]
) -> None:
    """A handler of a ``fail(...)`` gets the same whole Failure as locally: its ``node`` is the fail node's key
    (with the item's index in a map), its traceback empty; ``runs show`` names the same node."""
    from typedflow.backends.stepfunctions.runs import SfnRuns

    _, expected = _local(wf, inputs, tmp_path)
    marks = _marks(tmp_path, "sfn")
    remote = engine.run(wf.ir, {**inputs, "marks": str(marks)})
    assert remote.status == "FAILED"
    assert _seen(marks) == expected
    failure = SfnRuns(engine.sfn, engine.s3, engine.bucket).show(remote.arn).failure
    assert failure is not None
    assert (failure.node, failure.error_type, failure.message) == REPORTED_REFUSED[wf.name]
    assert remote.error == REPORTED_REFUSED[wf.name][1]


def _run_vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vertex"))
    try:
        from kfp_harness import run_spec
    finally:
        sys.path.pop(0)
    from typedflow.backends.vertex import BACKEND

    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    marks = _marks(tmp_path, "vertex")
    with pytest.raises(RuntimeError, match="FAILURE"):
        run_spec(path, {**inputs, "marks": str(marks)}, tmp_path / "kfp")
    return _seen(marks)


def test_vertex_gives_the_handled_dag_s_state(tmp_path: Path) -> None:
    """Vertex: a handler gets the final state of the DAG it handles (KFP's ``TASK_FINAL_STATUS``: the DAG task's
    name, ``FAILED`` and Vertex's message), never the failure of a node outside it."""
    seen = _run_vertex(*SUB, tmp_path)
    assert seen == {
        "closed": {"node": "exit-handler-2", "error_type": "FAILED", "message": "Task exit-handler-2 failed."},
        "on_failure": {"node": "exit-handler-1", "error_type": "FAILED", "message": "Task exit-handler-1 failed."},
    }
    # the run's kept failure is its first final one; kfp.local runs one task at a time, in its own order (here the
    # block's first), so `late` need not come after `early`; a Vertex node is named without its sub-workflow prefix
    (kept,) = (tmp_path / "kfp").rglob("runs/*/failure.json")
    kept_failure = json.loads(kept.read_text())
    assert (kept_failure["node"], kept_failure["error_type"]) in {("early", "ValueError"), ("late", "KeyError")}


def test_vertex_never_takes_a_tolerated_item_for_the_failure(tmp_path: Path) -> None:
    seen = _run_vertex(flows.tolerated_beside_failing, TOLERATED[1], tmp_path)
    assert seen == {
        "closed": {"node": "exit-handler-2", "error_type": "FAILED", "message": "Task exit-handler-2 failed."},
        "on_failure": {"node": "exit-handler-1", "error_type": "FAILED", "message": "Task exit-handler-1 failed."},
    }
    records = [json.loads(p.read_text()) for p in (tmp_path / "kfp").rglob("lineage/**/*.json")]
    ran = sorted((r["task"], r["status"]) for r in records if r.get("kind") == "task")
    assert ran.count(("odd_only", "failed")) == 2 and ran.count(("odd_only", "succeeded")) == 2  # items tolerated
    (kept,) = (tmp_path / "kfp").rglob("runs/*/failure.json")
    kept_failure = json.loads(kept.read_text())
    assert (kept_failure["node"], kept_failure["error_type"]) == ("explode", "KeyError")
