"""Where a ready task runs: on the scheduler's own thread, or on a pool worker."""

from __future__ import annotations

from typing import Final

from typedflow import ir

# A task that has so far taken less than this runs on the scheduler's thread: handing it to a worker
# thread and back costs more than the task, and pure-Python work does not run in parallel threads.
QUICK_SECONDS: Final = 0.001


class Placement:
    """The placement policy of one run. With worker threads, a task runs on the scheduler's thread when
    it is the only ready task and nothing else runs (that costs no concurrency), or when its template
    has been quick in this run; with worker processes, the scheduler's thread only waits for the only
    ready task. A task with a timeout always goes to a worker thread, which can be abandoned."""

    __slots__ = ("estimates", "quick_seconds", "threads")

    def __init__(self, isolation: str, quick_seconds: float | None = None) -> None:
        self.threads = isolation == "thread"
        self.quick_seconds = QUICK_SECONDS if quick_seconds is None else quick_seconds
        self.estimates: dict[str, float] = {}  # template -> moving average of its execution time (s)

    def inline(self, template: ir.TaskTemplate, *, alone: bool) -> bool:
        if not self.threads:
            return alone
        return template.timeout is None and (alone or self.quick(template))

    def quick(self, template: ir.TaskTemplate) -> bool:
        est = self.estimates.get(template.name)
        return est is not None and est < self.quick_seconds

    def timed(self, template: ir.TaskTemplate, seconds: float) -> None:
        prev = self.estimates.get(template.name)
        self.estimates[template.name] = seconds if prev is None else 0.8 * prev + 0.2 * seconds
