"""A NamedTuple output unpacks into its fields, as in plain Python."""

from typing import NamedTuple

from typedflow import task, workflow


class Pair(NamedTuple):
    left: int
    right: int


@task
def pair(n: int) -> Pair:
    return Pair(n, n + 1)


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def unpack(n: int) -> int:
    left, right = pair(n)
    return add(left, right)
