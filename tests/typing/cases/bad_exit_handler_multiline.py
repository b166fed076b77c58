"""An exit handler's arguments written over several lines: each error at its argument's own line, as for any
call (and as mypy reports them)."""

from typedflow import Failure, exit_handler, task, workflow


@task
def train(lr: float) -> float:
    return lr


@task(cache=False)
def notify(channel: str, attempts: int, failure: Failure | None = None) -> None:
    pass


@workflow
def guarded(lr: float, channel: str) -> float:
    with exit_handler(
        notify,
        lr,  # E: arg-type
        attempts=channel,  # E: arg-type
    ):
        score = train(lr)
    return score
