"""map_over with a task, a local function and a lambda; the result is a list of outputs."""

from typedflow import map_over, task, workflow


@task
def shards(n: int) -> list[str]:
    return [str(i) for i in range(n)]


@task
def size(shard: str) -> int:
    return len(shard)


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def fan_out(n: int) -> int:
    parts = shards(n)
    sizes = map_over(size, parts, max_concurrency=4)

    def twice(s: str) -> int:
        return double(size(s))

    doubled = map_over(twice, parts)
    again = map_over(lambda x: double(x), sizes)
    total(doubled)
    return total(again)
