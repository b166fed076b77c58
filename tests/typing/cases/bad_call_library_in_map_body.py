"""A map item given to a library function in a map_over body defined in the workflow: typedflow-call at the
call, for both checkers."""

import json

from typedflow import map_over, task, workflow


@task
def publish(text: str) -> int:
    return len(text)


@workflow
def report(xs: list[float]) -> list[int]:
    return map_over(lambda x: publish(json.dumps(x)), xs)  # E: typedflow-call
