"""A value made in a when block, ordered in a condition after the block: it may be None there, and None has no
order (compared with == it is fine: None is just not equal)."""

from typedflow import task, when, workflow


@task
def score(x: int) -> float:
    return 0.5


@task
def deploy(x: int) -> int:
    return x


@workflow
def gate(x: int) -> None:
    with when(x > 3):
        s = score(x)
        with when(s > 0.5):
            deploy(x)
    with when(s > 0.9):  # E: operator
        deploy(x)
    with when(s == 0.5):
        deploy(x)
