"""Comparisons of outputs are conditions for when(), not booleans for if."""

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def deploy(n: int) -> None:
    pass


@workflow
def compare(n: int, threshold: float) -> None:
    s = score(n)
    if s > threshold:  # E: typedflow-truthiness
        deploy(n)
    if 0.1 < s < 0.9:  # E: typedflow-truthiness
        deploy(n)
    if s in [0.5, 1.0]:  # E: typedflow-truthiness
        deploy(n)
