"""Two different tasks with one name in a workflow (tracer only: names are run-time values)."""

from typedflow import task, workflow


@task(name="step")
def first(n: int) -> int:
    return n


@task(name="step")
def second(n: int) -> int:
    return n


@workflow
def duplicate(n: int) -> int:
    return second(first(n))  # E[tracer]: typedflow-duplicate-name
