"""A workflow declared `-> None` returns an output, and one declared `-> int` returns None."""

from typedflow import task, workflow


@task
def count(n: int) -> int:
    return n


@workflow
def returns_value(n: int) -> None:
    return count(n)  # E: return-value
