"""A str output where an int is declared."""

from typedflow import task, workflow


@task
def name(n: int) -> str:
    return "x"


@task
def square(x: int) -> int:
    return x * x


@workflow
def wrong_type(n: int) -> int:
    label = name(n)
    return square(label)  # E: arg-type
