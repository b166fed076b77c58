"""A module function that passes a task output on to a library function that fails on it: typedflow-call at
the workflow's call of the module function, for both checkers."""

import json

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def publish(text: str) -> int:
    return len(text)


def describe(value: float) -> str:
    return json.dumps({"score": value})


@workflow
def report(n: int) -> int:
    return publish(describe(score(n)))  # E: typedflow-call
