"""Workflows whose floats may be written as ints (tests/local/test_float_form.py, semantics/test_constructs.py)."""

from __future__ import annotations

from dataclasses import dataclass

from typedflow import map_over, task, workflow


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
