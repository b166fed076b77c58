"""map_over with tolerated_failure over a lambda or a function defined in the workflow: what it returns must be
an Optional, as for a task mapped directly."""

from typedflow import map_over, task, workflow


@task
def fit(data: str, lr: float) -> float:
    return lr


@task
def maybe_fit(data: str, lr: float) -> float | None:
    return lr


@task
def best(scores: list[float | None]) -> float:
    return 0.0


@workflow
def sweep(data: str, lrs: list[float]) -> float:
    strict = map_over(lambda lr: fit(data, lr), lrs, tolerated_failure=0.2)  # E: return-value

    def trial(lr: float) -> float:
        return fit(data, lr)

    named = map_over(trial, lrs, tolerated_failure=0.2)  # E: return-value
    tolerant = map_over(lambda lr: maybe_fit(data, lr), lrs, tolerated_failure=0.2)
    best(strict)  # E: arg-type
    best(named)  # E: arg-type
    return best(tolerant)
