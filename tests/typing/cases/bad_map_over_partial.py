"""map_over a task with some arguments bound by functools.partial: each item goes to the first parameter left."""

from functools import partial

from typedflow import map_over, task, workflow


@task
def train(data: str, lr: float, epochs: int = 3) -> float:
    return lr * epochs


@task
def best(scores: list[float]) -> float:
    return max(scores)


@task
def names(n: int) -> list[str]:
    return []


@workflow
def sweep(data: str, lrs: list[str]) -> float:
    a = map_over(partial(train, data, epochs=5), lrs)  # E: arg-type
    b = map_over(partial(train, epochs=5), names(3))  # E: call-arg
    map_over(partial(train, lr=0.1), names(3))
    c = map_over(partial(train, data), ["0.1", "0.01"])  # E: arg-type
    return best(a) + best(b) + best(c)  # E: typedflow-arithmetic
