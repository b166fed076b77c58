"""len() of an output: its length is known only when the workflow runs."""

from typedflow import task, workflow


@task
def rows(n: int) -> list[float]:
    return []


@task
def allocate(size: int) -> None:
    pass


@workflow
def length(n: int) -> None:
    r = rows(n)
    allocate(len(r))  # E: typedflow-len
