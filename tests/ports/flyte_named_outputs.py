"""Flyte's named outputs (flytesnacks ``basics/named_outputs.py``): tasks whose outputs have names.

A NamedTuple return type names a task's outputs (``slope(...).slope``); the workflow returns a
NamedTuple of both, built from the two tasks' fields. The original's one-field NamedTuples are kept.
"""

from __future__ import annotations

from typing import NamedTuple

from typedflow import task, workflow


class SlopeValue(NamedTuple):
    slope: float


class InterceptValue(NamedTuple):
    intercept: float


class SlopeAndIntercept(NamedTuple):
    slope: float
    intercept: float


@task
def slope(x: list[int], y: list[int]) -> SlopeValue:
    n = len(x)
    sum_xy = sum(a * b for a, b in zip(x, y, strict=True))
    sum_xx = sum(a * a for a in x)
    return SlopeValue((n * sum_xy - sum(x) * sum(y)) / (n * sum_xx - sum(x) ** 2))


@task
def intercept(x: list[int], y: list[int], slope: float) -> InterceptValue:
    return InterceptValue(sum(y) / len(y) - slope * sum(x) / len(x))


@workflow
def simple_wf_with_named_outputs(
    x: list[int] = [-3, 0, 3],  # noqa: B006 - a default encoded into the IR, never mutated
    y: list[int] = [7, 4, -2],  # noqa: B006
) -> SlopeAndIntercept:
    s = slope(x=x, y=y)
    i = intercept(x=x, y=y, slope=s.slope)
    return SlopeAndIntercept(slope=s.slope, intercept=i.intercept)


def reference(x: list[int] | None = None, y: list[int] | None = None) -> SlopeAndIntercept:
    x = [-3, 0, 3] if x is None else x
    y = [7, 4, -2] if y is None else y
    mx, my = sum(x) / len(x), sum(y) / len(y)
    m = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)
    return SlopeAndIntercept(m, my - m * mx)
