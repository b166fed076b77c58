"""otherwise() belongs directly after a when() block."""

from typedflow import otherwise, task, when, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def deploy(n: int) -> None:
    pass


@workflow
def placement(n: int) -> None:
    with otherwise():  # E: typedflow-otherwise
        deploy(0)
    with when(score(n) > 0.5):
        deploy(n)
    with otherwise():
        deploy(1)
    with otherwise():  # E: typedflow-otherwise
        deploy(2)
