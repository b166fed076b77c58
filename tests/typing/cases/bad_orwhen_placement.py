"""orwhen() continues a when chain: it must directly follow a when or orwhen block."""

from typedflow import orwhen, otherwise, task, when, workflow


@task
def label(name: str) -> str:
    return name


@workflow
def grade(score: float) -> None:
    with orwhen(score > 0.5):  # E: typedflow-otherwise
        label("x")
    with when(score > 0.9):
        label("a")
    with otherwise():
        label("c")
    with orwhen(score > 0.1):  # E: typedflow-otherwise
        label("d")
