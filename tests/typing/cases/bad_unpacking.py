"""Unpacking is for NamedTuple outputs: a list output is iterated with map_over, not unpacked. Checking goes on
after the misuse: the next error is reported too."""

from typedflow import task, workflow


@task
def pair(n: int) -> list[int]:
    return [n, n]


@task
def name(n: int) -> str:
    return str(n)


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def unpack(n: int) -> int:
    left, right = pair(n)  # E: typedflow-iteration
    first, *_rest = pair(n)  # E: typedflow-iteration
    add(left, right)
    return add(first, name(n))  # E: arg-type
