"""A float output (or literal) where an int is declared: numbers only widen."""

from typedflow import task, workflow


@task
def ratio(n: int) -> float:
    return 0.5


@task
def repeat(times: int) -> int:
    return times


@workflow
def narrowing(n: int) -> int:
    r = ratio(n)
    repeat(r)  # E: arg-type
    return repeat(2.5)  # E: arg-type
