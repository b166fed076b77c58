"""A task with some arguments bound by functools.partial, mapped over the rest."""

from functools import partial

from typedflow import map_over, task, workflow


@task
def train(lr: float, epochs: int) -> float:
    return lr * epochs


@task
def best(scores: list[float]) -> float:
    return max(scores)


@workflow
def sweep(epochs: int) -> float:
    scores = map_over(partial(train, epochs=epochs), [0.1, 0.01])
    return best(scores)
