"""map_over over a list literal holding task outputs or inputs: the list does not exist yet."""

from typedflow import map_over, task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def half(x: float) -> float:
    return x / 2


@workflow
def literal_of_outputs(n: int, m: int) -> list[float]:
    return map_over(half, [score(n), score(m)])  # E: typedflow-container
