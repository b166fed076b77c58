"""A dict output unpacked with ** (into a dict display or a task's keywords), and divmod of an output: each an
error, and checking goes on after it."""

from typedflow import task, workflow


@task
def best_params(trials: int) -> dict[str, float]:
    return {"lr": 0.1, "depth": 3.0}


@task
def rows(table: str) -> int:
    return 0


@task
def train(lr: float, depth: float) -> float:
    return lr * depth


@task
def report(name: str) -> str:
    return name


@task
def log_params(params: dict[str, float]) -> None:
    pass


@workflow
def tune(trials: int, table: str) -> float:
    params = {**best_params(trials), "lr": 0.5}  # E: typedflow-iteration
    batches, rest = divmod(rows(table), 32)  # E: typedflow-arithmetic
    report(trials)  # E: arg-type
    log_params(params)
    train(batches, rest)
    return train(**best_params(trials))  # E: typedflow-iteration
