"""Conditions comparing values of unrelated types: the codes mypy gives them (comparison-overlap, operator)."""

import enum
from datetime import date

from typedflow import task, when, workflow


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@task
def rows(table: str) -> int:
    return 0


@task
def last_run(table: str) -> date | None:
    return None


@task
def publish(table: str) -> str:
    return table


@workflow
def gate(table: str, mode: Mode, threshold: str) -> None:
    with when(mode == "fast"):  # E: comparison-overlap
        publish(table)
    with when(rows(table) != threshold):  # E: comparison-overlap
        publish(table)
    with when(rows(table) > threshold):  # E: operator
        publish(table)
    with when(mode >= Mode.SLOW):  # E: operator
        publish(table)
    with when(last_run(table) == "2026-01-05"):  # E[tracer]: typedflow-condition
        publish(table)
