"""A when block's output may not exist after the block: it is Optional there."""

from typedflow import otherwise, task, when, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def promote(n: int) -> str:
    return "v1"


@task
def fallback(n: int) -> str:
    return "v0"


@task
def announce(version: str) -> None:
    pass


@workflow
def branch_value(n: int) -> str:
    s = score(n)
    with when(s > 0.5):
        version = promote(n)
        announce(version)
    with otherwise():
        announce(version)  # E[mypy]: typedflow-branch-output  # E[tracer]: arg-type
        version = fallback(n)
    announce(version)  # E[mypy]: typedflow-branch-output  # E[tracer]: arg-type
    return version  # E[mypy]: typedflow-branch-output  # E[tracer]: return-value
