"""A straight pipeline: outputs flow into parameters of the same or a wider type."""

from typedflow import task, workflow


@task
def load(n: int) -> list[float]:
    return [float(i) for i in range(n)]


@task
def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@task
def report(value: float, label: str) -> str:
    return f"{label}: {value}"


@workflow
def pipeline(n: int, label: str = "mean") -> str:
    xs = load(n)
    m = mean(xs)
    return report(m, label)
