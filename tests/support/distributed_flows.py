"""Workflows with map_over(distributed=..., tolerated_failure=...) (the tests import them by module)."""

from __future__ import annotations

from typedflow import Failure, map_over, task, workflow


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def square(x: int) -> int:
    return x * x


@task
def flaky(x: int) -> int | None:
    if x % 10 == 3:
        raise ValueError(f"item {x} fails")
    return x * 2


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def fan(n: int) -> int:
    return total(map_over(square, numbers(n), distributed=True, max_concurrency=20))


@workflow
def auto(n: int) -> list[int]:
    return map_over(square, numbers(n), distributed="auto")


@task
def names(n: int) -> list[str]:
    return [f"customer-{i}" for i in range(n)]


@task
def greet(name: str) -> str:
    return f"hello {name}"


@workflow
def auto_text(n: int) -> list[str]:
    return map_over(greet, names(n), distributed="auto")


@task
def fragile(x: int) -> int:
    if x % 10 == 3:
        raise ValueError(f"item {x} fails")
    return x * 2


@task
def settle(x: int) -> int | None:
    return x + 1


@workflow
def tolerant_chain(n: int) -> list[int | None]:
    """Two tasks an item: when the first fails, the second does not run."""
    return map_over(lambda x: settle(fragile(x)), numbers(n), tolerated_failure=0.1)


@workflow
def tolerant(n: int) -> list[int | None]:
    return map_over(flaky, numbers(n), tolerated_failure=0.1)


@workflow
def intolerant(n: int) -> list[int | None]:
    return map_over(flaky, numbers(n), tolerated_failure=0.05)


@task
def inc(x: int) -> int:
    return x + 1


@workflow
def split_fan(n: int) -> int:
    """A Distributed Map after a chain: split by --max-states, it runs in a child state machine."""
    for _ in range(6):
        n = inc(n)
    return total(map_over(square, numbers(n), distributed=True, tolerated_failure=0.0))


FAILURES: list[Failure] = []


@task
def record(f: Failure) -> None:
    FAILURES.append(f)


@workflow(on_failure=record)
def intolerant_handled(n: int) -> list[int | None]:
    return map_over(flaky, numbers(n), tolerated_failure=0.05)
