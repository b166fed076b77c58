"""Types that cannot cross a process boundary as typed JSON (tracer only: mypy accepts them)."""

from typedflow import task, workflow


@task
def tags(n: int) -> set[str]:  # E[tracer]: typedflow-unsupported-type
    return set()


@workflow
def unsupported(n: int) -> None:
    tags(n)  # E[tracer]: typedflow-untyped
