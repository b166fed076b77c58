"""A workflow may return a NamedTuple built from outputs: each field is a workflow output."""

from typing import NamedTuple

from typedflow import task, workflow


class Result(NamedTuple):
    model: str
    score: float


@task
def fit(n: int) -> str:
    return "model"


@task
def evaluate(model: str) -> float:
    return 1.0


@workflow
def named_outputs(n: int) -> Result:
    model = fit(n)
    return Result(model=model, score=evaluate(model))
