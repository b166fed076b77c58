"""A default of the wrong type, in signatures written over several lines: reported on the default's line."""

from typedflow import task, workflow


@task
def train(
    data: str,
    lr: float = "0.1",  # E: assignment
    epochs: int = 3,
) -> float:
    return lr * epochs


@workflow
def pipeline(
    data: str,
    folds: int = 2.5,  # E: assignment
) -> float:
    return train(data)  # E[tracer]: typedflow-untyped
