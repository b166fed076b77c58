"""Flyte's sub-workflows (flytesnacks ``advanced_composition/subworkflow.py``): a workflow called from another.

``slope_intercept_wf`` returns two values (a NamedTuple), which the caller unpacks
(``slope_value, intercept_value = slope_intercept_wf(...)``); a workflow that calls a workflow that
calls one nests two levels. The original's launch plan (the same workflow with other default inputs,
run as its own execution) is a deployment concern here: ``nested_regression_line_lp`` calls the
sub-workflow with the launch plan's inputs.
"""

from __future__ import annotations

from typing import NamedTuple

from typedflow import task, workflow


class Line(NamedTuple):
    slope: float
    intercept: float


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
def slope_intercept_wf(x: list[int], y: list[int]) -> Line:
    slope_value = slope(x=x, y=y)
    return Line(slope=slope_value, intercept=intercept(x=x, y=y, slope=slope_value))


@task
def regression_line(val: int, slope_value: float, intercept_value: float) -> float:
    return slope_value * val + intercept_value


@workflow
def regression_line_wf(
    val: int = 5,
    x: list[int] = [-3, 0, 3],  # noqa: B006 - encoded into the IR, never mutated
    y: list[int] = [7, 4, -2],  # noqa: B006
) -> float:
    slope_value, intercept_value = slope_intercept_wf(x=x, y=y)
    return regression_line(val=val, slope_value=slope_value, intercept_value=intercept_value)


@workflow
def nested_regression_line_wf() -> float:
    return regression_line_wf()


@workflow
def nested_regression_line_lp() -> float:
    return regression_line_wf(val=7, x=[-3, 0, 3], y=[7, 4, -2])


def ref_regression_line(val: int = 5, x: list[int] | None = None, y: list[int] | None = None) -> float:
    import statistics

    fit = statistics.linear_regression([-3, 0, 3] if x is None else x, [7, 4, -2] if y is None else y)
    return fit.slope * val + fit.intercept
