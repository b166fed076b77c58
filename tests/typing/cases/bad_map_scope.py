"""Outputs made inside a map_over body exist only there (tracer only: mypy sees a plain list)."""

from typedflow import map_over, task, workflow


@task
def shards(n: int) -> list[str]:
    return []


@task
def size(shard: str) -> int:
    return 0


@task
def use(x: int) -> None:
    pass


@workflow
def escape(n: int) -> None:
    seen: list[int] = []

    def each(s: str) -> int:
        r = size(s)
        seen.append(r)
        return r

    map_over(each, shards(n))
    use(seen[0])  # E[tracer]: typedflow-map-scope
