"""Sub-workflows check their arguments and results like tasks do."""

from typedflow import task, workflow


@task
def clean(n: int) -> list[float]:
    return [0.0] * n


@task
def label(xs: list[float]) -> str:
    return "x"


@workflow
def prepare(n: int) -> list[float]:
    return clean(n)


@workflow
def outer(name: str) -> float:
    xs = prepare(name)  # E: arg-type
    return label(xs)  # E: return-value
