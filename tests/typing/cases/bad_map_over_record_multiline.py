"""A map_over body returning a record written over several lines: a field's error is on its argument's line."""

from typing import NamedTuple

from typedflow import map_over, task, workflow


class Scored(NamedTuple):
    name: str
    score: float


@task
def fit(lr: float) -> float:
    return lr


@workflow
def grid(lrs: list[float]) -> list[Scored]:
    def trial(lr: float) -> Scored:
        return Scored(
            name=fit(lr),  # E: arg-type
            score=fit(lr),
        )

    return map_over(trial, lrs)
