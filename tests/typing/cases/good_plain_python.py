"""Plain Python on plain values is fine inside a workflow: it runs once, while tracing."""

from typedflow import task, workflow

LEARNING_RATES = [0.1, 0.01]


@task
def train(lr: float, tag: str) -> float:
    return lr


@task
def best(a: float, b: float) -> float:
    return max(a, b)


@workflow
def plain(prefix: str) -> float:
    scores = []
    for i, lr in enumerate(LEARNING_RATES):
        scores.append(train(lr, tag=f"run-{i}"))
    if len(LEARNING_RATES) > 1:
        return best(scores[0], scores[1])
    return scores[0]
