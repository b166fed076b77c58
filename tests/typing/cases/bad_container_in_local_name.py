"""A sweep unrolled with a Python loop, its outputs collected in a local list (or a comprehension, or a dict):
passing the container to a task is a container of outputs, whatever name holds it. Use map_over."""

from typedflow import task, workflow


@task
def train(lr: float) -> float:
    return lr


@task
def best(scores: list[float]) -> float:
    return max(scores)


@task
def best_of(scores: dict[str, float]) -> float:
    return max(scores.values())


@workflow
def sweep() -> float:
    scores = []
    for lr in [0.1, 0.01]:
        scores.append(train(lr))
    best(scores)  # E: typedflow-container
    unrolled = [train(lr) for lr in [0.1, 0.01]]
    best(unrolled)  # E: typedflow-container
    by_name = {}
    by_name["small"] = train(0.01)
    best_of(by_name)  # E: typedflow-container
    plain = [0.1, 0.2]
    return best(plain)
