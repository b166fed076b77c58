"""A field the NamedTuple output does not have."""

from typing import NamedTuple

from typedflow import task, workflow


class Split(NamedTuple):
    train: list[float]
    test: list[float]


@task
def split(n: int) -> Split:
    return Split([], [])


@task
def fit(xs: list[float]) -> float:
    return 0.0


@workflow
def no_such_field(n: int) -> float:
    s = split(n)
    return fit(s.validation)  # E: attr-defined
