"""An elif chain: when / orwhen / otherwise, the first that holds runs."""

from typedflow import orwhen, otherwise, task, when, workflow


@task
def label(name: str) -> str:
    return name


@workflow
def grade(score: float) -> None:
    with when(score >= 0.9):
        label("a")
    with orwhen(score >= 0.5):
        label("b")
    with otherwise():
        label("c")
