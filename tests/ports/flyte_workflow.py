"""Flyte's basic workflow (flytesnacks ``basics/workflow.py``): fit a regression line through points.

Two tasks, ``slope`` then ``intercept`` (which reads the slope), and a variant that binds ``x`` with
``functools.partial`` first. The reference is the same least-squares fit in plain Python.
"""

from __future__ import annotations

import functools

from typedflow import task, workflow


@task
def slope(x: list[int], y: list[int]) -> float:
    n = len(x)
    sum_xy = sum(a * b for a, b in zip(x, y, strict=True))
    sum_xx = sum(a * a for a in x)
    return (n * sum_xy - sum(x) * sum(y)) / (n * sum_xx - sum(x) ** 2)


@task
def intercept(x: list[int], y: list[int], slope: float) -> float:
    return sum(y) / len(y) - slope * sum(x) / len(x)


@workflow
def simple_wf(x: list[int], y: list[int]) -> float:
    return intercept(x=x, y=y, slope=slope(x=x, y=y))


@workflow
def simple_wf_with_partial(x: list[int], y: list[int]) -> float:
    slope_of = functools.partial(slope, x=x)
    return slope_of(y=y)


def reference(x: list[int], y: list[int]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line, in plain Python."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    m = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)
    return m, my - m * mx
