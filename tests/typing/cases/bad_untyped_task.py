"""Task parameters need annotations: mypy --strict and the tracer report the definition."""

from typedflow import task, workflow


@task
def untyped(x) -> int:  # E[mypy]: no-untyped-def  # E[tracer]: typedflow-untyped
    return 0


@task
def load(n: int) -> int:
    return n


@workflow
def uses_untyped(n: int) -> int:
    return untyped(load(n))  # E[tracer]: typedflow-untyped
