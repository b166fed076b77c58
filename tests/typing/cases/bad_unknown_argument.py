"""A keyword the task does not have."""

from typedflow import task, workflow


@task
def train(epochs: int, lr: float = 0.1) -> float:
    return lr


@workflow
def unknown_kw(n: int) -> float:
    return train(n, learning_rate=0.5)  # E: call-arg
