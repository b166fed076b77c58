"""A keyword-only parameter given positionally, a positional-only one given by keyword."""

from typedflow import task, workflow


@task
def train(data: str, *, lr: float = 0.1) -> float:
    return lr


@task
def scale(x: float, /, factor: float = 2.0) -> float:
    return x * factor


@workflow
def tuned(data: str, /, *, lr: float = 0.5) -> float:
    return train(data, lr=lr)


@workflow
def sweep(data: str) -> float:
    a = train(data, 0.5)  # E: call-arg
    tuned(data, a)  # E: call-arg
    c = tuned(data=data)  # E: call-arg
    return scale(x=c)  # E: call-arg
