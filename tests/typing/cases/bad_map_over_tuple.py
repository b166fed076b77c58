"""map_over over a fixed tuple: its elements must join to a type the function takes, and a tuple display of
outputs does not exist until the workflow runs (as a list display)."""

from typedflow import map_over, task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def mixed(n: int) -> tuple[int, str]:
    return (n, str(n))


@task
def half(x: float) -> float:
    return x / 2


@workflow
def over_tuples(n: int, m: int) -> list[float]:
    map_over(half, mixed(n))  # E: arg-type
    map_over(lambda x: half(x), mixed(n))  # E: arg-type
    return map_over(half, (score(n), score(m)))  # E: typedflow-container
