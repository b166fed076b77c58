"""dict[str, T] values are wired like any other value."""

from typedflow import task, workflow


@task
def params(n: int) -> dict[str, float]:
    return {"lr": 0.1}


@task
def train(hyper: dict[str, float]) -> float:
    return hyper["lr"]


@workflow
def dicts(n: int) -> float:
    return train(params(n))
