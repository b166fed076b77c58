"""A comparison of outputs is a condition for when(), not a bool value for a task."""

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def record(passed: bool) -> None:
    pass


@workflow
def condition_value(n: int) -> None:
    record(score(n) > 0.5)  # E: arg-type
