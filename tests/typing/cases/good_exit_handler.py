"""An exit handler: a task run after the block whether it succeeded or failed."""

from typedflow import Failure, exit_handler, task, workflow


@task
def train(lr: float) -> float:
    return lr


@task
def evaluate(score: float) -> float:
    return score


@task(cache=False)
def notify(channel: str, failure: Failure | None = None) -> None:
    pass


@workflow
def guarded(lr: float, channel: str) -> float:
    with exit_handler(notify, channel=channel):
        score = train(lr)
    return evaluate(score)  # not optional: had the block failed, the run would have stopped
