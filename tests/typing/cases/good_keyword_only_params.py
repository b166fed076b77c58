"""Keyword-only and positional-only parameters, bound as Python binds them (tasks and sub-workflows)."""

from typedflow import task, workflow


@task
def train(data: str, *, lr: float = 0.1, epochs: int = 3) -> float:
    return lr * epochs


@task
def scale(x: float, /, factor: float = 2.0) -> float:
    return x * factor


@workflow
def tuned(data: str, /, *, lr: float = 0.5) -> float:
    return scale(train(data, lr=lr), 3.0)


@workflow
def sweep(data: str) -> float:
    a = train(data, lr=0.5, epochs=2)
    b = scale(a, factor=4.0)
    return scale(tuned(data, lr=b))
