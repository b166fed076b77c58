"""A required parameter left out, and too many positional arguments."""

from typedflow import task, workflow


@task
def train(epochs: int, lr: float) -> float:
    return lr


@workflow
def missing(n: int) -> float:
    train(n, 0.1, 3)  # E: call-arg
    return train(epochs=n)  # E: call-arg
