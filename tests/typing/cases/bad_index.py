"""Indexing and slicing an output, and indexing with an output."""

from typedflow import task, workflow

NAMES = ["a", "b", "c"]


@task
def rows(n: int) -> list[float]:
    return []


@task
def pick(n: int) -> int:
    return 0


@task
def use(x: float, name: str, xs: list[float]) -> None:
    pass


@workflow
def indexing(n: int) -> None:
    r = rows(n)
    first = r[0]  # E: typedflow-index
    tail = r[1:]  # E: typedflow-index
    name = NAMES[pick(n)]  # E: typedflow-index
    use(first, name, tail)
