"""A NamedTuple built in the return statement from outputs of the wrong types: each field is an argument of its
constructor (arg-type on the argument's line, as mypy says)."""

from typing import NamedTuple

from typedflow import task, workflow


class Report(NamedTuple):
    accuracy: float
    model: str


@task
def accuracy(n: int) -> float:
    return 0.5


@task
def model_uri(n: int) -> str:
    return ""


@workflow
def report(n: int) -> Report:
    return Report(
        model_uri(n),  # E: arg-type
        model=accuracy(n),  # E: arg-type
    )
