"""Retry decisions and delays: exponential backoff, capped, with full jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import attrs

from typedflow import ir
from typedflow.runtime.retry import retryable

__all__ = ["Clock", "delay", "retryable"]


@attrs.frozen
class Clock:
    """Time as the interpreter sees it; tests inject one that does not really sleep."""

    sleep: Callable[[float], None] = time.sleep
    uniform: Callable[[float, float], float] = random.uniform


def delay(policy: ir.RetryPolicy, attempt: int, clock: Clock) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based)."""
    base = min(policy.max_delay, policy.initial_delay * policy.backoff ** (attempt - 1))
    return clock.uniform(0.0, base) if policy.jitter else base
