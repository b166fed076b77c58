"""The workflow returns an output of another type than it declares."""

from typedflow import task, workflow


@task
def name(n: int) -> str:
    return "x"


@workflow
def wrong_return(n: int) -> int:
    return name(n)  # E: return-value
