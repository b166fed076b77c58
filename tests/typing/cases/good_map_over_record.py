"""A map_over body returning a record built of its task outputs: a list of that record, as in Python."""

import dataclasses
from typing import NamedTuple

from typedflow import map_over, task, workflow


class Pair(NamedTuple):
    up: int
    down: int


@dataclasses.dataclass(frozen=True)
class Labelled:
    label: str
    value: int
    note: str


@task
def inc(x: int) -> int:
    return x + 1


@task
def dec(x: int) -> int:
    return x - 1


@task
def label(x: int) -> str:
    return str(x)


@task
def ups(pairs: list[Pair]) -> list[int]:
    return [p.up for p in pairs]


@workflow
def pairs(xs: list[int]) -> list[int]:
    return ups(map_over(lambda x: Pair(inc(x), dec(x)), xs))


@workflow
def labelled(xs: list[int]) -> list[Labelled]:
    def each(x: int) -> Labelled:
        return Labelled(label=label(x), value=inc(x), note="constant")

    return map_over(each, xs)
