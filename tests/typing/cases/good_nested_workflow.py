"""A workflow called inside another one is a sub-workflow with a typed interface."""

from typedflow import task, workflow


@task
def clean(n: int) -> list[float]:
    return [0.0] * n


@task
def fit(xs: list[float]) -> float:
    return 0.0


@workflow
def prepare(n: int) -> list[float]:
    return clean(n)


@workflow
def outer(n: int) -> float:
    xs = prepare(n)
    return fit(xs)
