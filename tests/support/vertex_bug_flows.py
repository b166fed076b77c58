"""Shapes that compiled to Vertex specs giving other results than the local interpreter (regressions)."""

from __future__ import annotations

from typing import NamedTuple

from typedflow import map_over, task, when, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def branch_in_map(xs: list[int]) -> list[int | None]:
    def body(x: int) -> int | None:
        with when(x > 1):
            y = double(x=x)
        return y

    return map_over(body, xs)


@task
def scaled(x: float, factor: float | None = None) -> float:
    return x * (factor if factor is not None else 1.0)


@workflow
def optional_unpassed(x: float) -> float:
    return scaled(x=x)


class Pair(NamedTuple):
    n: int
    tag: str = "t"


SEVEN = Pair(7, "q")


@task
def described(p: Pair = SEVEN, xs: list[int] = [1, 2]) -> str:  # noqa: B006  # only read
    return f"{p.n}{p.tag}{xs}"


@workflow
def record_and_list_defaults() -> str:
    return described()
