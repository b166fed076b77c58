"""The ``ir`` target: the canonical JSON of the IR itself."""

from __future__ import annotations

from typing import Any

from typedflow import ir
from typedflow.backend import Backend
from typedflow.ir.codec import dumps_pretty
from typedflow.util.gcpause import gc_paused


@gc_paused
def compile_ir(doc: ir.WorkflowIR, options: dict[str, Any]) -> str:
    return dumps_pretty(doc)


BACKEND = Backend(name="ir", description="typedflow's own IR as JSON", compile=compile_ir)
