"""Unpacking is for NamedTuple outputs: a list output is iterated with map_over, not unpacked."""

from typedflow import task, workflow


@task
def pair(n: int) -> list[int]:
    return [n, n]


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def unpack(n: int) -> int:
    left, right = pair(n)  # E: typedflow-iteration  # E[tracer]: typedflow-trace
    return add(left, right)
