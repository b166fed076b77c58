"""A map_over body defined at module level is traced inside the workflow: both checkers check its body."""

from typedflow import map_over, task, workflow


@task
def score(x: int) -> float:
    return 0.5


@task
def best(scores: list[float]) -> float:
    return max(scores)


def trial(x: int) -> float:
    s = score(x)
    if s > 0.5:  # E: typedflow-truthiness
        return score(x + 1)  # E: typedflow-arithmetic
    return s


@workflow
def sweep(xs: list[int]) -> float:
    return best(map_over(trial, xs))


@workflow
def sweep_again(xs: list[int]) -> float:
    return best(map_over(trial, xs))
