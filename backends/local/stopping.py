"""Stopping a local run on SIGINT or SIGTERM, leaving it resumable.

The first signal asks the run to stop: no new task starts, worker processes are killed at once,
and tasks running on threads get ``grace`` seconds to finish (what finishes is journaled as usual,
so a resumed run does not repeat it). When the grace period ends, or on a second signal, the
tasks still running are abandoned: a task on the scheduler's own thread is interrupted by
:class:`Abandon`, threads are left to the process's exit. The interpreter then raises
:class:`~typedflow.errors.RunInterrupted`.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Abandon(BaseException):
    """Raised on the scheduler's thread to abandon the task running there (a BaseException, so a
    task's ``except Exception`` does not swallow it)."""


class Stop:
    """A stop asked by a signal: what the signal handler and the scheduler share."""

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self.signum: int | None = None  # the first stop signal; None while the run goes on
        self.deadline = math.inf  # when running tasks are abandoned (time.monotonic())
        self.now = False  # stop waiting for running tasks
        self.inline = False  # a task is running on the scheduler's thread
        self.wake: Callable[[], None] | None = None  # wakes the scheduler (reentrant: a signal handler calls it)
        self.kill: Callable[[], int] | None = None  # kills worker processes; how many tasks it killed
        self.killed = 0
        self.notify: Callable[[], None] | None = None  # tells the run's listener (on a thread of its own)
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._installed = False
        self._previous: dict[int, Any] = {}

    def request(self, signum: int) -> None:
        """Ask the run to stop (first call) or to stop waiting for running tasks (later calls).
        Runs on the main thread, as a signal handler."""
        if self.signum is None:
            self.signum = signum
            self.deadline = time.monotonic() + self.grace
            if self.kill is not None:
                self.killed = self.kill()
            if self.notify is not None:  # not from here: this thread may be inside the listener
                threading.Thread(target=self.notify, name="typedflow-stopping", daemon=True).start()
            if self.grace > 0:
                self._timer = threading.Timer(self.grace, self._expired)
                self._timer.daemon = True
                self._timer.start()
            else:
                self.now = True
        else:
            self.now = True
        if self.wake is not None:
            self.wake()
        if self.now and self.inline:
            raise Abandon

    def _expired(self) -> None:
        # The signal again, to the main thread, where a task may be running inline: a real signal (not
        # _thread.interrupt_main) also ends a system call it is waiting in, such as a sleep.
        with self._lock:
            if self._installed and self.signum is not None:
                signal.pthread_kill(threading.main_thread().ident or 0, self.signum)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.request(signum)

    def install(self, enabled: bool = True) -> None:
        """From now until :meth:`uninstall`, SIGINT and SIGTERM ask this run to stop (only on the main
        thread, the only one Python delivers signals to)."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            return
        self._previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        with self._lock:
            self._installed = True
        for s in STOP_SIGNALS:
            signal.signal(s, self._handler)

    def uninstall(self) -> None:
        """The handlers that were there before :meth:`install` come back."""
        with self._lock:
            self._installed = False
            if self._timer is not None:
                self._timer.cancel()
        previous, self._previous = self._previous, {}
        # signal.signal() first runs the handlers of signals still pending (ours).
        for s, h in previous.items():
            if h is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(s, h)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
