"""How the local interpreter's run is followed: the observer hooks (node reports: :mod:`typedflow.runtime.reports`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from typedflow.runtime.reports import (
    CACHED,
    FAILED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TOLERATED,
    Event,
    NodeReport,
    NodeStatus,
)

__all__ = [
    "CACHED",
    "FAILED",
    "RUNNING",
    "SKIPPED",
    "SUCCEEDED",
    "TOLERATED",
    "Event",
    "Listener",
    "NodeReport",
    "NodeStatus",
    "RunObserver",
]


class RunObserver(Protocol):
    """Follows a local run; called on the scheduler's thread, so an observer needs no lock but must be
    quick. The run journal, the lineage recorder and the progress view are observers."""

    def node_finished(self, report: NodeReport) -> None:
        """A node reached its final state (a task's, or a handler's run)."""

    def progress(self, event: NodeReport) -> None:
        """A progress event; made only for a run with a live view (see ``Interpreter(live=...)``)."""

    def waiting(self) -> None:
        """The scheduler is about to wait for tasks that may take a while."""


class Listener:
    """A plain callable (``RunOptions.listener``) as an observer: it gets every report and event."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[NodeReport], None]) -> None:
        self.fn = fn

    def node_finished(self, report: NodeReport) -> None:
        self.fn(report)

    def progress(self, event: NodeReport) -> None:
        self.fn(event)

    def waiting(self) -> None:
        pass
