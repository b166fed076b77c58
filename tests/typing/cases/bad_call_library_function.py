"""A task output given to a library function that fails on it (json.dumps cannot serialize a placeholder):
typedflow-call at the call for both checkers, in the workflow's file rather than the library's."""

import json

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def publish(text: str) -> int:
    return len(text)


@workflow
def report(n: int) -> int:
    s = score(n)
    text = json.dumps(s)  # E: typedflow-call
    return publish(text)
