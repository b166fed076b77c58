"""when/otherwise with conditions on outputs; a block's outputs are used inside the block."""

from typedflow import otherwise, task, when, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def approved(n: int) -> bool:
    return True


@task
def promote(model: int, score: float) -> str:
    return "promoted"


@task
def notify(message: str) -> None:
    pass


@workflow
def gated(n: int, threshold: float = 0.8) -> None:
    s = score(n)
    ok = approved(n)
    with when((s >= threshold) & (ok == True) | (s > 0.99)):  # noqa: E712 - builds a condition
        result = promote(n, s)
        notify(result)
    with otherwise():
        notify("rejected")
    with when(ok):
        notify("approved")
