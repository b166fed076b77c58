"""Unpacking a NamedTuple output iterates over it; read its fields instead."""

from typing import NamedTuple

from typedflow import task, workflow


class Pair(NamedTuple):
    left: int
    right: int


@task
def pair(n: int) -> Pair:
    return Pair(n, n)


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def unpack(n: int) -> int:
    left, right = pair(n)  # E: typedflow-iteration  # E[tracer]: typedflow-trace
    return add(left, right)
