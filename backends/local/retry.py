"""Retry decisions and delays: exponential backoff, capped, with full jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import attrs

from typedflow import ir
from typedflow.runtime.execute import TaskError


@attrs.frozen
class Clock:
    """Time as the interpreter sees it; tests inject one that does not really sleep."""

    sleep: Callable[[float], None] = time.sleep
    uniform: Callable[[float, float], float] = random.uniform


def delay(policy: ir.RetryPolicy, attempt: int, clock: Clock) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based)."""
    base = min(policy.max_delay, policy.initial_delay * policy.backoff ** (attempt - 1))
    return clock.uniform(0.0, base) if policy.jitter else base


def retryable(policy: ir.RetryPolicy, err: TaskError) -> bool:
    """Whether the policy retries this error: any Exception when ``on`` is empty."""
    if not policy.on:
        return True
    names: set[str] = {err.error_type}
    if err.exc is not None:
        names |= {f"{c.__module__}:{c.__qualname__}" for c in type(err.exc).__mro__}
        names |= {c.__qualname__ for c in type(err.exc).__mro__}
    for wanted in policy.on:
        if wanted in names or wanted.replace("builtins:", "") in names or wanted.split(":")[-1] in names:
            return True
    return False
