"""A return inside an otherwise block would cut the rest of the workflow out of its graph."""

from typedflow import otherwise, task, when, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def late(x: int) -> int | None:
    with when(x > 3):
        y = double(x=x)
    with otherwise():
        return x  # E: typedflow-return-in-branch
    return y
