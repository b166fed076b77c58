"""Current UTC time as RFC 3339 with microseconds and ``Z``: the one timestamp format of runs and records."""

from __future__ import annotations

import time

# (second, its formatted prefix): a task takes several timestamps within the same second, and
# formatting the date part is most of the cost. Replaced as one tuple, so threads never mix halves.
_last: tuple[int, str] = (-1, "")


def utcnow() -> str:
    """For example ``2026-11-23T20:51:37.123456Z``."""
    return at_ns(time.time_ns())


def at_ns(ns: int) -> str:
    """The timestamp of ``ns`` nanoseconds since the epoch (as :func:`time.time_ns` gives)."""
    global _last
    second, rest = divmod(ns, 1_000_000_000)
    cached = _last
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
        _last = cached
    # str() of 1,000,000 + micros, without its leading 1: the six zero-padded digits, cheaper than a format spec
    return cached[1] + str(1_000_000 + rest // 1000)[1:] + "Z"
