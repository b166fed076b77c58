"""Loops, comprehensions, membership tests and star-arguments iterate over an output."""

from typedflow import task, workflow


@task
def shards(n: int) -> list[str]:
    return []


@task
def process(shard: str) -> int:
    return 0


@task
def merge(a: str, b: str) -> str:
    return a


@workflow
def loops(n: int) -> None:
    parts = shards(n)
    for p in parts:  # E: typedflow-iteration
        process(p)
    sizes = [process(p) for p in parts]  # E: typedflow-iteration
    with_star = merge(*parts)  # E: typedflow-iteration  # E[tracer]: call-arg
    process(with_star)
    if "a" in parts:  # E: typedflow-iteration
        process("a")
    process(str(len(sizes)))
