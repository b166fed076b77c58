"""An Optional output returned where the workflow declares a plain type."""

from typedflow import task, workflow


@task
def find(n: int) -> float | None:
    return None


@workflow
def optional_out(n: int) -> float:
    return find(n)  # E: return-value
