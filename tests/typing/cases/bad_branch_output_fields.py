"""Fields of a block's output, and map_over over it, after the block."""

from typing import NamedTuple

from typedflow import map_over, task, when, workflow


class Split(NamedTuple):
    rows: list[int]
    seed: int


@task
def ready(n: int) -> bool:
    return True


@task
def split(n: int) -> Split:
    return Split([], n)


@task
def fit(seed: int) -> float:
    return 0.0


@task
def each(row: int) -> int:
    return row


@workflow
def branch_fields(n: int) -> None:
    with when(ready(n)):
        s = split(n)
        fit(s.seed)
    fit(s.seed)  # E[mypy]: typedflow-branch-output  # E[tracer]: arg-type
    map_over(each, s.rows)  # E[mypy]: typedflow-branch-output  # E[tracer]: arg-type
