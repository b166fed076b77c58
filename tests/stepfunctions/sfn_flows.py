"""Workflows the Step Functions tests compile and run (same module for local and moto runs)."""

from __future__ import annotations

import threading
from typing import NamedTuple

from typedflow import Failure, Resources, Retry, TypedFile, map_over, otherwise, task, when, workflow


class Stats(NamedTuple):
    total: int
    label: str


class Flaky(Exception):
    pass


@task
def inc(x: int) -> int:
    return x + 1


@task
def double(x: int) -> int:
    return x * 2


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def stats(a: int, b: int) -> Stats:
    return Stats(a + b, f"{a}+{b}")


@task
def label_of(s: str, n: int | None) -> str:
    return f"{s}:{n}"


@task
def square(x: int) -> int:
    return x * x


@task
def ints(n: int) -> list[int]:
    return list(range(n))


@task
def total(xs: list[int]) -> int:
    return sum(xs)


# ----------------------------------------------------------------------------- shapes


@workflow
def chain(x: int) -> int:
    return double(inc(inc(x)))


@workflow
def diamond(x: int) -> Stats:
    a = inc(x)
    b = double(a)
    c = square(a)
    return stats(b, c)


@workflow
def fan(n: int, k: int) -> int:
    xs = ints(n)
    ys = map_over(lambda v: add(square(v), k), xs, max_concurrency=4)
    return total(ys)


@workflow
def branch(x: int, name: str) -> str:
    s = stats(x, x)
    with when(s.total > 10):
        big = double(s.total)
    with otherwise():
        inc(s.total)
    with when(name == "loud"):
        loud = square(s.total)
    return label_of(label_of(s.label, big), loud)


@workflow
def branch_both(x: int) -> str:
    s = stats(x, 1)
    with when((s.total >= 5) & (s.label != "4+1")):
        big = double(s.total)
    with otherwise():
        inc(s.total)
    return label_of(s.label, big)


# ----------------------------------------------------------------------------- retries and failures

_ATTEMPTS: dict[str, int] = {}
_LOCK = threading.Lock()


@task(retry=Retry(attempts=3, initial_delay=0.01, backoff=1.0, on=(Flaky,)))
def flaky(key: str, fail_times: int) -> int:
    with _LOCK:
        _ATTEMPTS[key] = _ATTEMPTS.get(key, 0) + 1
        n = _ATTEMPTS[key]
    if n <= fail_times:
        raise Flaky(f"attempt {n} of {key} fails")
    return n


@workflow
def retried(key: str, fail_times: int) -> int:
    return inc(flaky(key, fail_times))


FAILURES: list[Failure] = []


@task
def explode(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


@task
def record_failure(f: Failure) -> None:
    with _LOCK:
        FAILURES.append(f)


@workflow(on_failure=record_failure)
def failing(x: int) -> int:
    a = inc(x)
    return double(explode(a))


@task(retry=Retry(attempts=3, initial_delay=0.01, backoff=1.0, on=(Flaky,)))
def record_failure_flaky(f: Failure, key: str) -> None:
    """A handler whose first call fails, as a pager might: its own Retry applies."""
    with _LOCK:
        _ATTEMPTS[key] = _ATTEMPTS.get(key, 0) + 1
        if _ATTEMPTS[key] == 1:
            raise Flaky(f"{key}: pager down")
        FAILURES.append(f)


@workflow(on_failure=record_failure_flaky)
def failing_flaky_handler(x: int, key: str) -> int:
    return double(explode(x))


# ----------------------------------------------------------------------------- files and big values


@task
def write_lines(n: int) -> TypedFile:
    f: TypedFile = TypedFile.new(".txt")
    with open(f.uri, "w") as fh:
        fh.write("".join(f"line {i}\n" for i in range(n)))
    return f


@task
def count_lines(f: TypedFile) -> int:
    return len(f.read_text().splitlines())


@workflow
def files(n: int) -> int:
    return count_lines(write_lines(n))


@task
def same(f: TypedFile) -> TypedFile:
    return f  # a stored input handed on unchanged: on AWS its URI is s3://


@workflow
def passthrough(n: int) -> int:
    return count_lines(same(write_lines(n)))


@task
def big_text(kb: int) -> str:
    return "x" * (kb * 1024)


@task
def length(s: str) -> int:
    return len(s)


class Sized(NamedTuple):
    size: int
    text: str


@task
def sized(s: str, n: int) -> Sized:
    return Sized(n, s[:10])


@workflow
def big(kb: int) -> Sized:
    text = big_text(kb)
    return sized(text, length(text))


@workflow
def big_out(kb: int) -> str:
    return big_text(kb)


# ----------------------------------------------------------------------------- sub-workflows


@workflow
def inner(x: int) -> Stats:
    return stats(inc(x), x)


@workflow
def outer(x: int) -> str:
    s = inner(x)
    with when(s.total > 3):
        d = double(s.total)
    return label_of(s.label, d)


@workflow(schedule="30 2 * * 1-5")
def nightly(x: int = 1) -> int:
    return inc(x)


@task(resources=Resources(cpu=2, memory="4Gi", gpu=1, ephemeral_storage="30Gi"), timeout=600)
def train(x: int) -> int:
    return x * 3


@workflow
def resourced(x: int) -> int:
    return inc(train(x))


@task
def grid(n: int) -> list[list[int]]:
    return [list(range(i + 1)) for i in range(n)]


@task
def pick(x: int, flag: bool) -> int:
    return x * 10 if flag else -x


@task
def is_even(x: int) -> bool:
    return x % 2 == 0


def _cell(v: int, k: int) -> int:
    even = is_even(v)
    with when(even):
        hit = pick(v, even)
    with otherwise():
        inc(v)
    return opt_add(hit, k)


@task
def opt_add(a: int | None, k: int) -> int:
    return k if a is None else a + k


@workflow
def nested(n: int, k: int) -> list[int] | None:
    rows = grid(n)  # _cell, below, is a plain helper traced inline on purpose (the plugin wants a @workflow)
    sums = map_over(lambda row: total(map_over(lambda v: _cell(v, k), row)), rows)  # type: ignore[typedflow-call]
    big_enough = total(sums)
    with when(big_enough > 20):
        again = map_over(lambda s: double(s), sums)
    return again


# ----------------------------------------------------------------------------- tuples


@task
def split_pair(s: str) -> tuple[str, int]:
    return (s, len(s))


@task
def letters(s: str) -> tuple[str, ...]:
    return tuple(s)


@task
def upper(c: str) -> str:
    return c.upper()


@task
def joined(head: tuple[str, int], loud: list[str], dims: tuple[int, ...]) -> tuple[str, ...]:
    return (head[0], str(head[1]), *loud, *map(str, dims))


@workflow
def tuples(s: str, dims: tuple[int, ...]) -> tuple[str, ...]:
    return joined(split_pair(s), map_over(upper, letters(s)), dims)


@workflow
def count_lines_of(f: TypedFile) -> int:
    return count_lines(f)
