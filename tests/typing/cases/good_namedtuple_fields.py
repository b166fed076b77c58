"""A NamedTuple output's fields are separate outputs and can be wired one by one."""

from typing import NamedTuple

from typedflow import task, workflow


class Split(NamedTuple):
    train: list[float]
    test: list[float]
    seed: int


@task
def split(n: int) -> Split:
    return Split([], [], n)


@task
def fit(xs: list[float], seed: int) -> float:
    return 0.0


@task
def evaluate(model: float, xs: list[float]) -> float:
    return model


@workflow
def fields(n: int) -> float:
    s = split(n)
    model = fit(s.train, s.seed)
    return evaluate(model, s.test)
