"""Calls written over several lines (as black formats them): an argument's error is on the argument's line."""

from typedflow import map_over, task, when, workflow


@task
def train(
    data: str,
    lr: float,
    epochs: int,
) -> float:
    return lr * epochs


@task
def name(n: int) -> str:
    return str(n)


@task
def scale(lr: float) -> float:
    return lr


@workflow
def evaluate(
    data: str,
    epochs: int,
) -> float:
    return train(data, 0.1, epochs)


@workflow
def long_calls(data: str, n: int, lrs: list[str]) -> float:
    first = train(
        data=data,
        lr=0.1,
        epochs=name(n),  # E: arg-type
    )
    with when(n > 3):
        gated = scale(0.5)
    second = train(
        data,
        gated,  # E[mypy]: typedflow-branch-output  # E[tracer]: arg-type
        3,
    )
    third = train(  # E: call-arg
        data=data,
        lr=first,
    )
    map_over(
        scale,  # E: arg-type
        lrs,
    )
    return (
        evaluate(  # E: typedflow-arithmetic
            data,
            epochs=second,  # E: arg-type
        )
        + third
    )
