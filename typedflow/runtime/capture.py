"""A task's captured output: what its thread writes to ``sys.stdout`` / ``sys.stderr`` while it runs.

``sys.stdout`` and ``sys.stderr`` are wrapped once per process by a pass-through stream that also hands
each write to the :class:`Output` of the attempt running on the writing thread (see
:data:`typedflow.runtime.context.ATTEMPT`); everything still reaches the original stream. Output is bounded
(:data:`LIMIT` characters an attempt) and has every secret value the task had blanked out before it
is kept anywhere (see :func:`typedflow.runtime.execute.execute`).

Once the attempt has a secret value, what it writes reaches the original stream a line at a time with
those values blanked out too (a terminal, a progress view, a cloud log): a value split across writes is
still one line. An unfinished line is written when the attempt ends (:func:`release`), or as it grows
past :data:`HELD` characters.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, unquote

from typedflow.dsl.secret import redact
from typedflow.runtime.context import ATTEMPT, Attempt

LIMIT: Final = 1 << 20  # characters kept per attempt; the rest is counted, not kept
HELD: Final = 1 << 13  # characters of an unfinished line held back while a task has secrets
_LOCK = threading.Lock()


class _Inner(threading.local):
    active = False


_INNER = _Inner()

# Where a runner keeps an attempt's output: ``sink(text)``, bound to the node and attempt.
Sink = Callable[[str], None]


class Output:
    """The output of one attempt, in the order it was written."""

    __slots__ = ("dropped", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        room = LIMIT - self.size
        if room <= 0:
            self.dropped += len(text)
            return
        if len(text) > room:
            self.dropped += len(text) - room
            text = text[:room]
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        body = "".join(self.parts)
        if self.dropped:
            body += f"\n[typedflow: {self.dropped:,} more characters of output were not kept]\n"
        return body


class _Tee:
    """A stream that writes through to ``target`` and into the running attempt's output."""

    def __init__(self, target: Any, fallback: Any) -> None:
        self._target = target
        self._fallback = fallback  # the process's own stream, should ``target`` be closed under us

    def _to(self) -> Any:
        target = self._target
        if getattr(target, "closed", False) and self._fallback is not None:
            return self._fallback
        return target

    def write(self, text: str) -> int:
        attempt = ATTEMPT.get()
        if attempt is None or _INNER.active or not isinstance(text, str):
            n: int = self._to().write(text)
            return n
        if attempt.output is not None:
            attempt.output.add(text)
        shown = _hold(attempt, self, text) if attempt.revealed else text
        _INNER.active = True  # a stream this one writes into (stdout into stderr) must not keep it again
        try:
            self._to().write(shown)
        finally:
            _INNER.active = False
        return len(text)

    def write_through(self, text: str) -> None:
        _INNER.active = True
        try:
            self._to().write(text)
        finally:
            _INNER.active = False

    def flush(self) -> None:
        self._to().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _hold(attempt: Attempt, stream: _Tee, text: str) -> str:
    """The finished lines of what ``attempt`` has written to ``stream`` (ended by a newline, or by a
    carriage return as progress bars redraw theirs), secret values blanked out; the unfinished rest
    waits for its end. An unfinished line longer than :data:`HELD` is passed on but for its last
    characters, which may be the start of a secret."""
    held = attempt.held
    if held is None:
        held = attempt.held = {}
    text = held.pop(stream, "") + text
    cut = max(text.rfind("\n"), text.rfind("\r")) + 1
    if len(text) - cut <= HELD:
        if cut < len(text):
            held[stream] = text[cut:]
        return redact(text[:cut], attempt.revealed)
    text = redact(text, attempt.revealed)
    cut = max(0, len(text) - max(len(v) for v in attempt.revealed) + 1)
    held[stream] = text[cut:]
    return text[:cut]


def release(attempt: Attempt) -> None:
    """Write the unfinished lines an ended attempt left (see :func:`_hold`), secret values blanked out."""
    held, attempt.held = attempt.held, None
    for stream, rest in (held or {}).items():
        if isinstance(stream, _Tee):
            stream.write_through(redact(rest, attempt.revealed))


def install() -> None:
    """Wrap the current ``sys.stdout`` / ``sys.stderr`` (once; again after something replaced them)."""
    if isinstance(sys.stdout, _Tee) and isinstance(sys.stderr, _Tee):
        return
    with _LOCK:
        out, err = sys.stdout, sys.stderr
        if out is not None and not isinstance(out, _Tee):
            sys.stdout = _Tee(out, sys.__stdout__)
            _retarget(out, sys.stdout)
        if err is not None and not isinstance(err, _Tee):
            sys.stderr = _Tee(err, sys.__stderr__)
            _retarget(err, sys.stderr)


def _retarget(stream: Any, tee: _Tee) -> None:
    """Logging handlers made earlier to write to ``stream`` (``logging.basicConfig()`` as a module is
    imported) write through ``tee`` from now on: what a task logs is its output too, kept and with its
    secret values blanked out."""
    # A copy: another thread may add a logger meanwhile (dict.copy() holds the GIL throughout).
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.copy().values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # a placeholder of the logger tree has none
            if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
                handler.setStream(tee)


def node_segment(key: str) -> str:
    """A node key (``map[1]/inner/explode``) as one path segment, reversibly."""
    return quote(key, safe="")


def node_key(segment: str) -> str:
    return unquote(segment)


__all__ = ["LIMIT", "Output", "Sink", "install", "node_key", "node_segment", "release"]
