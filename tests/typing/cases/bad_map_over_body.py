"""A map_over body is workflow code too: its item is an output."""

from typedflow import map_over, task, workflow


@task
def scores(n: int) -> list[float]:
    return []


@task
def keep(score: float) -> float:
    return score


@workflow
def body_misuse(n: int) -> None:
    def each(score: float) -> float:
        if score > 0.5:  # E: typedflow-truthiness
            return keep(score)
        return keep(0.0)

    map_over(each, scores(n))
    map_over(lambda s: keep(s * 2), scores(n))  # E: typedflow-arithmetic
