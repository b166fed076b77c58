"""list and dict are invariant: list[int] is not a list[float]."""

from typedflow import task, workflow


@task
def counts(n: int) -> list[int]:
    return [n]


@task
def table(n: int) -> dict[str, bool]:
    return {}


@task
def mean(xs: list[float]) -> float:
    return 0.0


@task
def weights(w: dict[str, float]) -> float:
    return 0.0


@workflow
def invariant(n: int) -> float:
    mean(counts(n))  # E: arg-type
    return weights(table(n))  # E: arg-type
