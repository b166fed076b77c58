"""A sub-workflow's on_failure runs when it fails, on every target, before the failure goes on to the
caller (whose own handler then runs too); when it succeeds, no handler runs."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import failure_flows as flows
from tests.support.aws import Aws
from tests.support.marks import marks_dir as _marks
from tests.support.marks import seen as _seen
from typedflow.runtime.running import RunOptions, run_workflow


def test_local(tmp_path: Path) -> None:
    marks = _marks(tmp_path, "fails")
    r = run_workflow(flows.outer, {"x": 5, "marks": str(marks)}, RunOptions(store=tmp_path / "s"))
    assert not r.ok
    seen = _seen(marks)
    assert (
        seen["inner"]
        == seen["outer"]
        == {
            "node": "inner/explode",
            "error_type": "ValueError",
            "message": "cannot handle 6",
        }
    )
    handlers = {n.key: n.status for n in r.nodes if n.node == "on_failure"}
    assert handlers == {"inner/on_failure/note_inner": "succeeded", "on_failure/note_outer": "succeeded"}
    ok = _marks(tmp_path, "ok")
    r = run_workflow(flows.outer, {"x": 1, "marks": str(ok)}, RunOptions(store=tmp_path / "s"))
    assert r.ok and r.value == 3 and not list(ok.iterdir())


def test_step_functions(aws: Aws, tmp_path: Path) -> None:
    marks = _marks(tmp_path, "fails")
    remote = aws.run(flows.outer.ir, {"x": 5, "marks": str(marks)})
    assert remote.status == "FAILED" and remote.error == "ValueError"
    seen = _seen(marks)
    assert (
        seen["inner"]
        == seen["outer"]
        == {
            "node": "inner/explode",
            "error_type": "ValueError",
            "message": "cannot handle 6",
        }
    )
    ok = _marks(tmp_path, "ok")
    remote = aws.run(flows.outer.ir, {"x": 1, "marks": str(ok)})
    assert remote.status == "SUCCEEDED" and remote.outputs == {"out": 3}
    assert not list(ok.iterdir())


def test_vertex(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vertex"))
    try:
        from kfp_harness import run_spec
    finally:
        sys.path.pop(0)
    from typedflow.backends.vertex import BACKEND

    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.outer.ir, {"output": str(path)}))
    marks = _marks(tmp_path, "fails")
    try:
        run_spec(path, {"x": 5, "marks": str(marks)}, tmp_path / "kfp")
    except Exception:
        pass  # kfp.local raises for a failed pipeline: what the handlers saw is what matters
    seen = _seen(marks)
    assert set(seen) == {"inner", "outer"}
    assert seen["inner"]["error_type"] == seen["outer"]["error_type"] == "FAILED"  # Vertex gives a task state
    ok = _marks(tmp_path, "ok")
    outs, _ = run_spec(path, {"x": 1, "marks": str(ok)}, tmp_path / "kfp-ok")
    assert outs == {"out": 3} and not list(ok.iterdir())


def test_inside_a_map_locally_and_on_step_functions(aws: Aws, tmp_path: Path) -> None:
    local_marks, sfn_marks = _marks(tmp_path, "local"), _marks(tmp_path, "sfn")
    r = run_workflow(flows.outer_map, {"xs": [1, 5, 2], "marks": str(local_marks)}, RunOptions(store=tmp_path / "s"))
    assert not r.ok
    remote = aws.run(flows.outer_map.ir, {"xs": [1, 5, 2], "marks": str(sfn_marks)})
    assert remote.status == "FAILED" and remote.error == "ValueError"
    for marks in (local_marks, sfn_marks):
        seen = _seen(marks)
        assert seen["inner"]["node"] == seen["outer"]["node"] == "map[1]/inner/explode", marks
        assert seen["inner"]["message"] == "cannot handle 6"
