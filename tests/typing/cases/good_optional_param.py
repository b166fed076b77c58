"""T is accepted where T | None is declared, and so is None."""

from typedflow import task, workflow


@task
def seed(n: int) -> int:
    return n


@task
def train(epochs: int, seed: int | None = None, note: str | None = None) -> float:
    return 0.0


@workflow
def optional_ok(epochs: int) -> float:
    s = seed(epochs)
    train(epochs, s)
    return train(epochs, None, note=None)
