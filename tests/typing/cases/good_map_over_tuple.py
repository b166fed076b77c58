"""map_over takes a tuple as well as a list (``items: list[T] | tuple[T, ...]``): a fixed tuple too, whose
element type is what mypy joins its elements to (``tuple[bool, int, float]``: float)."""

from typedflow import map_over, task, workflow


@task
def pair(n: int) -> tuple[float, float]:
    return (n / 2, n / 3)


@task
def widening(n: int) -> tuple[bool, int, float]:
    return (n > 0, n, n / 2)


@task
def half(x: float) -> float:
    return x / 2


@task
def total(xs: list[float]) -> float:
    return sum(xs)


@workflow
def over_tuples(n: int, given: tuple[int, float]) -> float:
    total(map_over(half, (0.1, 0.2, 0.3)))
    total(map_over(half, pair(n)))
    total(map_over(lambda x: half(x), widening(n)))
    return total(map_over(half, given))
