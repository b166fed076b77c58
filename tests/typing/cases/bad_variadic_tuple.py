"""A list is not a tuple[T, ...] and a tuple[T, ...] is not a list (mypy agrees); elements must fit."""

from typedflow import task, workflow


@task
def numbers(n: int) -> list[int]:
    return [n]


@task
def frozen(n: int) -> tuple[int, ...]:
    return (n,)


@task
def floats(n: int) -> tuple[float, ...]:
    return (float(n),)


@task
def total(xs: tuple[int, ...]) -> int:
    return sum(xs)


@task
def mean(xs: list[int]) -> float:
    return sum(xs) / len(xs)


@workflow
def mixed(n: int) -> float:
    total(numbers(n))  # E: arg-type
    total(floats(n))  # E: arg-type
    return mean(frozen(n))  # E: arg-type
