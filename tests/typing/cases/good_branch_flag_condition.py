"""A bool made in a when block, used as a condition after it: None when the block did not run, which holds no more
than False does (as `if flag:` in Python)."""

from typedflow import task, when, workflow


@task
def validate(table: str) -> bool:
    return True


@task
def publish(table: str) -> str:
    return table


@workflow
def release(table: str, rows: int) -> None:
    with when(rows > 0):
        valid = validate(table)
    with when(valid):
        publish(table)
