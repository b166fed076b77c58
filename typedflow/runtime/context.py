"""What a running task may know about its run: ``typedflow.current_run()``, and its scratch space."""

from __future__ import annotations

import contextvars
import tempfile
from pathlib import Path
from typing import Any, Protocol

import attrs


@attrs.frozen
class RunContext:
    run_id: str
    workflow: str
    node: str  # the node instance key, e.g. "train" or "map[3]/score"
    attempt: int
    ir_digest: str
    target: str  # "local" | "stepfunctions" | "vertex"


class Store(Protocol):
    """What an attempt needs of its artifact store: verified local copies of stored content."""

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path: ...


class Attempt:
    """The task attempt running in this context: its run (a :class:`RunContext`), its scratch directory
    (created on first use: most tasks never need one), and the store its input handles are read from
    (``fetched``: what it gave out, checked after the task)."""

    __slots__ = ("_context", "_path", "fetched", "held", "output", "parent", "prefix", "revealed", "store")

    def __init__(
        self, parent: Path | None, prefix: str, context: RunContext | None, store: Store | None = None
    ) -> None:
        self.parent = parent
        self.prefix = prefix
        self._context = context
        self._path: Path | None = None
        self.store = store
        self.fetched: list[tuple[Path, str, bool]] = []
        self.revealed: list[str] = []  # secret values the task had: blanked out of its output and error
        self.output: Any = None  # a typedflow.runtime.capture.Output when the runner keeps the task's output
        # Per stream, the unfinished line the task wrote once it had secrets (see typedflow.runtime.capture).
        self.held: dict[Any, str] | None = None

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path:
        """The verified local copy of a stored input (see :meth:`Store.fetch`)."""
        assert self.store is not None
        path = self.store.fetch(uri, sha256, is_dir)
        self.fetched.append((path, sha256, is_dir))
        return path

    @property
    def context(self) -> RunContext | None:
        return self._context

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
