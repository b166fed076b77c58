"""Loops, comprehensions and membership tests iterate over an output."""

from typedflow import task, workflow


@task
def shards(n: int) -> list[str]:
    return []


@task
def process(shard: str) -> int:
    return 0


@workflow
def loops(n: int) -> None:
    parts = shards(n)
    for p in parts:  # E: typedflow-iteration
        process(p)
    sizes = [process(p) for p in parts]  # E: typedflow-iteration
    if "a" in parts:  # E: typedflow-iteration
        process("a")
    process(str(len(sizes)))
