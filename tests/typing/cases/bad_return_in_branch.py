"""A return inside a when block would cut the rest of the workflow out of its graph."""

from typedflow import task, when, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def early(x: int) -> int:
    with when(x > 3):
        return double(x=x)  # E: typedflow-return-in-branch
    return x
