"""A record built in a map_over body is bound field by field, like a task's arguments."""

from typing import NamedTuple

from typedflow import map_over, task, workflow


class Pair(NamedTuple):
    up: int
    down: int


@task
def inc(x: int) -> int:
    return x + 1


@task
def label(x: int) -> str:
    return str(x)


@workflow
def mistyped(xs: list[int]) -> list[Pair]:
    def each(x: int) -> Pair:
        return Pair(up=label(x), down=inc(x))  # E: arg-type

    map_over(each, xs)
    return map_over(lambda x: Pair(inc(x), label(x)), xs)  # E: arg-type
