"""A workflow compiled to a Vertex spec and run under kfp.local, for tests that compare targets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def run_on_kfp_local(
    wf: Any, inputs: dict[str, Any], root: Path, *, pipeline_root: str = "kfp", resolved: bool = True
) -> dict[str, Any]:
    """Compile ``wf`` into ``root`` and run it with its pipeline root at ``root / pipeline_root``; its
    outputs. ``resolved``: fail when kfp.local could not resolve a condition (it skips that branch and
    still reports success)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vertex"))
    try:
        from kfp_harness import run_spec
    finally:
        sys.path.pop(0)
    from typedflow.backends.vertex import BACKEND

    root.mkdir(parents=True, exist_ok=True)
    path = root / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    outs, warnings = run_spec(path, inputs, root / pipeline_root)
    if resolved:
        assert not [w for w in warnings if "Could not resolve" in w or "evaluation failed" in w], warnings
    return outs
