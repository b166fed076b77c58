"""Plain Python around task calls: every statement kind the plugin walks, on plain values."""

from typing import NamedTuple

from typedflow import map_over, otherwise, task, when, workflow

SIZES = {"small": 1, "large": 10}


class Stats(NamedTuple):
    mean: float
    rows: int


@task
def stats(n: int) -> Stats:
    return Stats(0.0, n)


@task
def fit(mean: float, size: int, tag: str) -> float:
    return mean


@task
def pick(a: float, b: float) -> float:
    return a


@workflow
def coverage(n: int, tag: str = "run") -> float:
    s = stats(n)
    mean = s.mean
    fits = {name: fit(mean, size, tag) for name, size in sorted(SIZES.items()) if size > 0}
    first, *rest = [fit(mean, 1, tag), fit(mean, 2, tag)]
    try:
        extra = fit(mean, SIZES["small"], tag=tag)
    except KeyError:
        extra = first
    finally:
        pass
    match len(SIZES):
        case 2:
            label = "two"
        case _:
            label = "many"
    if (k := len(label)) > 2 and not rest:
        extra = fit(mean, k, label)
    with when(s.rows > 3):
        pick(fits["large"], extra)
    with otherwise():
        pick(fits["small"], extra)
    map_over(lambda c: fit(c, 2, tag), map_over(lambda m: pick(m, mean), [1.0, 2.0]))
    assert SIZES, "sizes are configured"
    del label
    return pick(first, rest[0]) if rest else extra
