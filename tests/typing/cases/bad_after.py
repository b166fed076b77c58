"""after() waits for what a task returned; `>>` between outputs is arithmetic."""

from typedflow import after, task, workflow


@task
def step(n: int) -> int:
    return n


@workflow
def wrong(n: int) -> int:
    with after(n):  # E: typedflow-after
        step(n)
    first = step(1)
    second = step(2)
    return first >> second  # E: typedflow-arithmetic
