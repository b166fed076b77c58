"""A NamedTuple field of one type wired into a parameter of another."""

from typing import NamedTuple

from typedflow import task, workflow


class Split(NamedTuple):
    rows: list[float]
    seed: int


@task
def split(n: int) -> Split:
    return Split([], n)


@task
def fit(xs: list[float], seed: str) -> float:
    return 0.0


@workflow
def field_type(n: int) -> float:
    s = split(n)
    return fit(s.rows, s.seed)  # E: arg-type
