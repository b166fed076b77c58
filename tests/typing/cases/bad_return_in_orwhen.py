"""A return inside an orwhen block would cut the rest of the workflow out of its graph, as in a when block."""

from typedflow import orwhen, task, when, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def early(x: int) -> int:
    with when(x > 3):
        double(x=x)
    with orwhen(x > 1):
        return double(x=x)  # E: typedflow-return-in-branch
    return double(x=x)
