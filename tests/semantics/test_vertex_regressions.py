"""Workflows whose Vertex specs gave other results than the local interpreter, run under kfp.local."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import vertex_bug_flows as flows
from tests.support.kfp import run_on_kfp_local
from typedflow.runtime.running import RunOptions, run_workflow


def _vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return run_on_kfp_local(wf, inputs, tmp_path, resolved=False)


@pytest.mark.parametrize(
    ("wf", "inputs", "expected"),
    [
        # the untaken branch's placeholder (0) leaked into the map's results
        (flows.branch_in_map, {"xs": [1, 2, 3]}, {"out": [None, 4, 6]}),
        # an unset `float | None = None` was passed as a constant null to a non-optional input
        (flows.optional_unpassed, {"x": 2.5}, {"out": 2.5}),
        # a task whose parameter defaults to a record or a list (unhashable typed JSON) failed to compile
        (flows.record_and_list_defaults, {}, {"out": "7q[1, 2]"}),
    ],
    ids=["branch value in a map body", "unset optional parameter", "record and list defaults"],
)
def test_vertex_gives_what_the_local_interpreter_gives(
    wf: Any, inputs: dict[str, Any], expected: dict[str, Any], tmp_path: Path
) -> None:
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "s"))
    assert local.outputs == expected
    assert _vertex(wf, inputs, tmp_path) == expected
