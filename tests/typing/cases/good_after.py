"""An ordering edge: tasks that pass no data, run one after another."""

from typedflow import after, task, when, workflow


@task
def create_table(name: str) -> None:
    pass


@task
def load(name: str) -> int:
    return 1


@task
def report(rows: int) -> None:
    pass


@workflow
def ordered(name: str) -> int:
    made = create_table(name)
    with after(made):
        rows = load(name)
        with when(rows > 0):
            report(rows)
    return rows
