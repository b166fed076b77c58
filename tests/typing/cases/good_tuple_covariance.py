"""Tuples are covariant: tuple[bool, int] is accepted where tuple[int, float] is declared."""

from typedflow import task, workflow


@task
def pair(n: int) -> tuple[bool, int]:
    return (True, n)


@task
def use(p: tuple[int, float]) -> float:
    return p[1]


@workflow
def covariant(n: int) -> float:
    return use(pair(n))
