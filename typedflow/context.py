"""What a running task may know about its run: ``typedflow.current_run()``, and its scratch space."""

from __future__ import annotations

import contextvars
import tempfile
from pathlib import Path

import attrs


@attrs.frozen
class RunContext:
    run_id: str
    workflow: str
    node: str  # the node instance key, e.g. "train" or "map[3]/score"
    attempt: int
    ir_digest: str
    target: str  # "local" | "stepfunctions" | "vertex"


# RunContext's fields in order: what a runner passes when it may never be asked for the context
# (making the frozen object costs more than a quick map item's task).
ContextFields = tuple[str, str, str, int, str, str]


class Attempt:
    """The task attempt running in this context: its run (a :class:`RunContext`, made when the task
    first asks for it) and its scratch directory (created on first use: most tasks never need one)."""

    __slots__ = ("_context", "_path", "parent", "prefix")

    def __init__(self, parent: Path | None, prefix: str, context: RunContext | ContextFields | None) -> None:
        self.parent = parent
        self.prefix = prefix
        self._context = context
        self._path: Path | None = None

    @property
    def context(self) -> RunContext | None:
        ctx = self._context
        if ctx is None or isinstance(ctx, RunContext):
            return ctx
        made = self._context = RunContext(*ctx)
        return made

    @property
    def created(self) -> Path | None:
        """The scratch directory, if the task made one."""
        return self._path

    def scratch(self) -> Path:
        if self._path is None:
            if self.parent is not None:
                self.parent.mkdir(parents=True, exist_ok=True)
            self._path = Path(tempfile.mkdtemp(dir=self.parent, prefix=self.prefix))
        return self._path


# The attempt being executed: set by the runtime around the task's call.
ATTEMPT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("typedflow_attempt", default=None)


def current_run() -> RunContext:
    """The run, node and attempt of the task being executed; raises outside a running task."""
    attempt = ATTEMPT.get()
    ctx = attempt.context if attempt is not None else None
    if ctx is None:
        raise RuntimeError("typedflow.current_run() is only available while a task runs in a workflow run")
    return ctx
