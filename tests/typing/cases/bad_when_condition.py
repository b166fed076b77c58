"""when() takes a bool output or a comparison; an int output is neither."""

from typedflow import task, when, workflow


@task
def count(n: int) -> int:
    return n


@task
def deploy(n: int) -> None:
    pass


@workflow
def condition(n: int) -> None:
    c = count(n)
    with when(c):  # E[mypy]: arg-type  # E[tracer]: typedflow-condition
        deploy(n)
