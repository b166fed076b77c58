"""bool ≤ int ≤ float: a narrower number is accepted where a wider one is declared."""

from typedflow import task, workflow


@task
def is_large(n: int) -> bool:
    return n > 100


@task
def count(n: int) -> int:
    return n


@task
def scale(x: float, factor: float) -> float:
    return x * factor


@task
def as_int(x: int) -> int:
    return x


@workflow
def promote(n: int) -> float:
    flag = is_large(n)
    as_int(flag)  # bool where int is declared
    c = count(n)
    return scale(c, 2)  # int (and an int literal) where float is declared
