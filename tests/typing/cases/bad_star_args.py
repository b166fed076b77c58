"""Star-arguments iterate over an output."""

from typedflow import task, workflow


@task
def shards(n: int) -> list[str]:
    return []


@task
def merge(a: str, b: str) -> str:
    return a


@workflow
def star_args(n: int) -> str:
    return merge(*shards(n))  # E: typedflow-iteration
