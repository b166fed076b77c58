"""`is None` on an output: the tracer cannot see identity tests, so only mypy reports it."""

from typedflow import task, workflow


@task
def find(n: int) -> int | None:
    return None


@task
def use(x: int | None) -> int:
    return 0


@workflow
def identity(n: int) -> int:
    found = find(n)
    if found is None:  # E[mypy]: typedflow-truthiness
        return use(None)
    return use(found)
