"""map_over over a literal list of one simple type."""

from typedflow import map_over, task, workflow


@task
def train(lr: float) -> float:
    return lr


@task
def best(scores: list[float]) -> float:
    return max(scores)


@workflow
def sweep() -> float:
    scores = map_over(train, [0.1, 0.01, 0.001])
    return best(scores)
