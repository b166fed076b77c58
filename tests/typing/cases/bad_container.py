"""A list or dict literal holding outputs is not a value a task can receive."""

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def best(scores: list[float]) -> float:
    return 0.0


@task
def table(columns: dict[str, float]) -> None:
    pass


@workflow
def containers(n: int) -> float:
    a = score(n)
    b = score(2)
    table({"a": a, "b": b})  # E: typedflow-container
    return best([a, b])  # E: typedflow-container
