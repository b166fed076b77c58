"""A block's output after the block is Optional: accepted where T | None is declared."""

from typedflow import task, when, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def promote(n: int) -> str:
    return "v1"


@task
def record(version: str | None) -> None:
    pass


@workflow
def maybe_promote(n: int) -> str | None:
    s = score(n)
    with when(s > 0.5):
        version = promote(n)
    record(version)
    return version
