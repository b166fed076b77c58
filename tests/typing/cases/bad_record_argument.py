"""A NamedTuple built from outputs is a container: a task cannot receive it directly."""

from typing import NamedTuple

from typedflow import task, workflow


class Pair(NamedTuple):
    left: int
    right: int


@task
def count(n: int) -> int:
    return n


@task
def add(p: Pair) -> int:
    return p.left + p.right


@workflow
def record_in(n: int) -> int:
    return add(Pair(count(n), count(2)))  # E: typedflow-container
