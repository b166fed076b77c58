"""An exit handler's arguments are checked like a call's."""

from typedflow import Failure, exit_handler, task, workflow


@task
def train(lr: float) -> float:
    return lr


@task(cache=False)
def notify(channel: str, failure: Failure | None = None) -> None:
    pass


@workflow
def guarded(lr: float, channel: str) -> float:
    with exit_handler(notify, channel=lr):  # E: arg-type
        score = train(lr)
    return score
