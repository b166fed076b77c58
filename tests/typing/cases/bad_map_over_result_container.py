"""A map_over body returns an output or a record of outputs; a list of them does not exist yet."""

from typedflow import map_over, task, workflow


@task
def inc(x: int) -> int:
    return x + 1


@workflow
def listed(xs: list[int]) -> list[list[int]]:
    return map_over(lambda x: [inc(x), inc(x)], xs)  # E[tracer]: return-value
