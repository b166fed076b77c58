"""What a running task may know about its run: ``typedflow.current_run()``."""

from __future__ import annotations

import contextvars

import attrs


@attrs.frozen
class RunContext:
    run_id: str
    workflow: str
    node: str  # the node instance key, e.g. "train" or "map[3]/score"
    attempt: int
    ir_digest: str
    target: str  # "local" | "stepfunctions" | "vertex"


CURRENT: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("typedflow_run", default=None)


def current_run() -> RunContext:
    """The run, node and attempt of the task being executed; raises outside a running task."""
    ctx = CURRENT.get()
    if ctx is None:
        raise RuntimeError("typedflow.current_run() is only available while a task runs in a workflow run")
    return ctx
