"""Values with several typed-JSON spellings (tests/local/test_normal_form.py, semantics/test_constructs.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from typedflow import map_over, one_of, otherwise, task, when, workflow


@dataclass
class Point:
    x: float
    y: float = 0


@task
def scale(v: float, by: float = 2) -> float:
    return v * by


@task
def whole(v: float) -> float:
    return round(v)  # an int where a float is declared, as mypy allows


@task
def norms(ps: list[Point]) -> dict[str, list[float]]:
    return {"x": [int(p.x) for p in ps], "y": [p.y for p in ps]}


@workflow
def scaled(v: float) -> float:
    return scale(v=whole(v=v), by=3)


@workflow
def points(ps: list[Point]) -> dict[str, list[float]]:
    return norms(ps=ps)


@workflow
def halves(vs: list[float]) -> list[float]:
    return map_over(scale, vs)


@task
def make() -> dict[str, int]:
    return {"b": 1, "a": 2, "c": 3}


@task(cache=False)
def keys(d: dict[str, int]) -> list[str]:
    return list(d)  # what a task sees of a dict's order


@workflow
def dict_order() -> list[str]:
    return keys(d=make())


@workflow
def given_order(d: dict[str, int]) -> list[str]:
    return keys(d=d)


@task
def weekday(day: dt.date, at: dt.datetime) -> list[int]:
    return [day.weekday(), at.hour]


@workflow
def when_is(day: dt.date, at: dt.datetime) -> list[int]:
    return weekday(day=day, at=at)


@task
def counted(n: int) -> int:
    return n


@workflow
def count_as_float(n: int) -> float:
    return counted(n=n)  # an int output where the workflow declares a float, as mypy allows


@workflow
def number_of_either(n: int) -> float:
    with when(n > 0):
        whole_n = counted(n=n)
    with otherwise():
        half = scale(v=0.5, by=1)
    return one_of(whole_n, half)
