"""Outputs go to tasks, not plain functions; and an output is not callable."""

import math

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


def log_score(value: float) -> None:
    """A plain function: it would receive a placeholder, not a number."""


@workflow
def plain_calls(n: int) -> None:
    s = score(n)
    log_score(s)  # E[mypy]: typedflow-call
    isinstance(s, float)  # E[mypy]: typedflow-call
    math.sqrt(s)  # E[mypy]: typedflow-call  # E[tracer]: typedflow-arithmetic
    s()  # E: typedflow-call  # E[mypy]: operator
