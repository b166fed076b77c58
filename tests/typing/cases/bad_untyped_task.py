"""Task parameters need annotations; the two checkers report the same defect at different places."""

from typedflow import task, workflow


@task  # E[tracer]: typedflow-untyped
def untyped(x) -> int:  # E[mypy]: no-untyped-def
    return 0


@task
def load(n: int) -> int:
    return n


@workflow
def uses_untyped(n: int) -> int:
    return untyped(load(n))  # E[tracer]: typedflow-untyped
