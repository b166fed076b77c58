"""Which task errors a retry policy retries: one rule for every target."""

from __future__ import annotations

from typedflow import ir
from typedflow.runtime.execute import TaskError


def retryable(policy: ir.RetryPolicy, err: TaskError) -> bool:
    """Whether the policy retries this error: any Exception when ``on`` is empty."""
    if not policy.on:
        return True
    names: set[str] = {err.error_type}
    # The exception's classes, also of an attempt that ran in a worker process: `on` matches like `except`.
    names |= set(err.classes)
    names |= {c.partition(":")[2] for c in err.classes}
    for wanted in policy.on:
        if wanted in names or wanted.replace("builtins:", "") in names or wanted.split(":")[-1] in names:
            return True
    return False
