"""Nested blocks: an outer block's outputs are available inside an inner block."""

from typedflow import otherwise, task, when, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def model(n: int) -> str:
    return "m"


@task
def deploy(model: str, canary: bool) -> None:
    pass


@workflow
def nested(n: int) -> None:
    s = score(n)
    with when(s > 0.5):
        m = model(n)
        with when(s > 0.9):
            deploy(m, False)
        with otherwise():
            deploy(m, True)
