"""Workflows whose blocks end as their last node is launched, run on every target by the parity tests."""

from __future__ import annotations

from typedflow import map_over, task, when, workflow


@task
def bump(x: int) -> int:
    return x + 1


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def gated(x: int) -> int:
    y = bump(x)
    with when(y > 5):
        double(y)
    return y


@task
def range_of(n: int) -> list[int]:
    return list(range(n))


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def row_total(n: int) -> int:
    return total(map_over(lambda v: bump(v), range_of(n)))


@task
def pair(a: list[int], b: list[int]) -> list[list[int]]:
    return [a, b]


@workflow
def settles_at_launch(xs: list[int], ns: list[int]) -> list[list[int]]:
    # Sub-workflows whose last node settles inside the launch that follows their upstream task (an
    # untaken `when`, an empty map), inside maps: every target gives each item its own result.
    return pair(map_over(lambda v: gated(v), xs), map_over(lambda n: row_total(n), ns))
