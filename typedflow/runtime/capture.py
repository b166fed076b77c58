"""A task's captured output: what its thread writes to ``sys.stdout`` / ``sys.stderr`` while it runs.

``sys.stdout`` and ``sys.stderr`` are wrapped once per process by a pass-through stream that also hands
each write to the :class:`Output` of the attempt running on the writing thread (see
:data:`typedflow.runtime.context.ATTEMPT`); everything still reaches the original stream. Output is bounded
(:data:`LIMIT` characters an attempt) and has every secret value the task had blanked out before it
is kept anywhere (see :func:`typedflow.runtime.execute.execute`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, unquote

from typedflow.runtime.context import ATTEMPT

LIMIT: Final = 1 << 20  # characters kept per attempt; the rest is counted, not kept
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
        out = attempt.output if attempt is not None else None
        if out is None or _INNER.active:
            n: int = self._to().write(text)
            return n
        if isinstance(text, str):
            out.add(text)
        _INNER.active = True  # a stream this one writes into (stdout into stderr) must not keep it again
        try:
            n = self._to().write(text)
        finally:
            _INNER.active = False
        return n

    def flush(self) -> None:
        self._to().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def install() -> None:
    """Wrap the current ``sys.stdout`` / ``sys.stderr`` (once; again after something replaced them)."""
    if isinstance(sys.stdout, _Tee) and isinstance(sys.stderr, _Tee):
        return
    with _LOCK:
        out, err = sys.stdout, sys.stderr
        if out is not None and not isinstance(out, _Tee):
            sys.stdout = _Tee(out, sys.__stdout__)
        if err is not None and not isinstance(err, _Tee):
            sys.stderr = _Tee(err, sys.__stderr__)


def node_segment(key: str) -> str:
    """A node key (``map[1]/inner/explode``) as one path segment, reversibly."""
    return quote(key, safe="")


def node_key(segment: str) -> str:
    return unquote(segment)


__all__ = ["LIMIT", "Output", "Sink", "install", "node_key", "node_segment"]
