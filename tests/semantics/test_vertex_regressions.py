"""Workflows whose Vertex specs gave other results than the local interpreter, run under kfp.local."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import vertex_bug_flows as flows
from typedflow.runtime.running import RunOptions, run_workflow


def _vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vertex"))
    try:
        from kfp_harness import run_spec
    finally:
        sys.path.pop(0)
    from typedflow.backends.vertex import BACKEND

    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    outs, _ = run_spec(path, inputs, tmp_path / "kfp")
    return outs


@pytest.mark.parametrize(
    ("wf", "inputs", "expected"),
    [
        # the untaken branch's placeholder (0) leaked into the map's results
        (flows.branch_in_map, {"xs": [1, 2, 3]}, {"out": [None, 4, 6]}),
        # an unset `float | None = None` was passed as a constant null to a non-optional input
        (flows.optional_unpassed, {"x": 2.5}, {"out": 2.5}),
    ],
    ids=["branch value in a map body", "unset optional parameter"],
)
def test_vertex_gives_what_the_local_interpreter_gives(
    wf: Any, inputs: dict[str, Any], expected: dict[str, Any], tmp_path: Path
) -> None:
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "s"))
    assert local.outputs == expected
    assert _vertex(wf, inputs, tmp_path) == expected
