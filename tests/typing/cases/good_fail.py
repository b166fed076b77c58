"""fail(message) ends the run from a branch; type checking goes on after it."""

from typedflow import fail, task, when, workflow


@task
def score(n: int) -> float:
    return n / 10


@task
def deploy(s: float) -> str:
    return "ok"


@workflow
def gated(n: int) -> str:
    s = score(n)
    with when(s < 0.5):
        fail("the model is not good enough to deploy")
    return deploy(s)
