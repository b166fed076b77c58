"""Workflows the Vertex tests compile and run (imported by task containers, so top-level)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import attrs

from typedflow import Failure, Retry, TypedFile, map_over, otherwise, task, when, workflow
from typedflow.formats import CSV
from typedflow.ir import ResourceSpec


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def double(x: int) -> int:
    return 2 * x


@task
def scale(x: int, factor: float) -> float:
    return x * factor


@workflow
def chain(x: int, y: int = 2) -> int:
    return double(add(add(x, y), 1))


@workflow
def diamond(x: int) -> float:
    top = double(x)
    left = add(top, 1)
    right = scale(top, 0.5)
    return scale(add(left, 3), right)


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def fan(n: int) -> int:
    squares = map_over(lambda v: double(v), numbers(n), max_concurrency=2)
    return total(squares)


@task
def label(x: int, text: str) -> str:
    return f"{text}:{x}"


@task
def mark(directory: str, name: str) -> str:
    """Records that a branch ran (kfp.local skips unresolvable branches silently)."""
    Path(directory, name).write_text(name)
    return name


@workflow
def branch(x: int, marks: str) -> int:
    d = double(x)
    with when(d > 10):
        mark(marks, "big")
    with otherwise():
        mark(marks, "small")
    with when(d == 4):
        mark(marks, "four")
    return d


@task(retry=Retry(attempts=3, initial_delay=0.0, backoff=1.0, max_delay=0.0))
def flaky(counter_dir: str, fail_times: int) -> int:
    """Fails ``fail_times`` times, then returns how many attempts it took."""
    n = len(os.listdir(counter_dir)) + 1
    Path(counter_dir, f"attempt-{n}").write_text("x")
    if n <= fail_times:
        raise RuntimeError(f"attempt {n} fails")
    return n


@workflow
def retried(counter_dir: str) -> int:
    return add(flaky(counter_dir, 2), 10)


@task
def write_csv(rows: int) -> TypedFile[CSV]:
    f: TypedFile[CSV] = TypedFile.new(".csv")
    with open(f.uri, "w") as fh:
        fh.write("a,b\n" + "".join(f"{i},{i * i}\n" for i in range(rows)))
    return f


@task
def count_rows(data: TypedFile[CSV]) -> int:
    return len(data.read_text().strip().splitlines()) - 1


@workflow
def files(rows: int) -> int:
    return count_rows(write_csv(rows))


class Stats(NamedTuple):
    mean: float
    count: int  # type: ignore[assignment]  # a NamedTuple field may shadow tuple.count; mypy objects


@attrs.frozen
class Config:
    name: str
    threshold: float


@task(resources=ResourceSpec(cpu=2, memory="4Gi", gpu=1, gpu_type="nvidia-tesla-t4"))
def stats(xs: list[int]) -> Stats:
    return Stats(sum(xs) / max(len(xs), 1), len(xs))


@task
def describe_cfg(cfg: Config, count: int) -> str:
    return f"{cfg.name}/{count}"


@workflow
def records(n: int, cfg: Config) -> Stats:
    s = stats(numbers(n))
    with when(s.mean > cfg.threshold):
        describe_cfg(cfg, s.count)
    return s


@task
def pick(xs: list[int], i: int) -> int:
    return xs[i]


@workflow
def inner(n: int) -> int:
    m = double(n)
    return total(map_over(lambda v: add(add(v, n), m), numbers(n)))


@workflow
def nested(n: int, cfg: Config) -> Stats:
    """A sub-workflow, a map whose body reads an outer value, a record field and a NamedTuple."""
    s = stats(map_over(lambda v: pick(numbers(n), v), numbers(n)))
    t = inner(s.count)
    label(t, cfg.name)
    return s


@task
def notify(failure: Failure) -> str:
    return failure.message


@task
def boom(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x


@workflow(on_failure=notify)
def guarded(x: int) -> int:
    return boom(x)


@task(retry=Retry(attempts=3, initial_delay=0.0, backoff=1.0, max_delay=0.0))
def notify_flaky(failure: Failure, counter_dir: str) -> str:
    """A handler whose first call fails, as a pager might: its own retry policy applies."""
    n = len(os.listdir(counter_dir)) + 1
    Path(counter_dir, f"attempt-{n}").write_text("x")
    if n == 1:
        raise ConnectionError("pager down")
    return failure.message


@workflow(on_failure=notify_flaky)
def guarded_flaky(x: int, counter_dir: str) -> int:
    return boom(x)


@workflow
def maybe(x: int) -> int | None:
    with when(x > 0):
        y = double(x)
    return y


@workflow(schedule="0 3 * * *")
def nightly(x: int) -> int:
    return double(x)


@task
def describe_maybe(marks: str, y: int | None) -> str:
    """Consumes a value that exists only when its branch ran (and records that it ran)."""
    Path(marks, "consume").write_text(repr(y))
    return f"y={y}"


@task
def mark_int(directory: str, name: str, x: int) -> int:
    """Records that a branch ran and returns ``x``."""
    Path(directory, name).write_text(name)
    return x


@task
def total_maybe(a: int | None, b: int | None) -> int:
    return (a or 0) + (b or 0)


@workflow
def escapes(x: int, marks: str) -> str:
    """A value computed inside `when` (no `otherwise`) and used after it."""
    with when(x > 3):
        y = mark_int(marks, "big", double(x))
    return describe_maybe(marks, y)


@workflow
def either(x: int, marks: str) -> str:
    """Both arms assign values used after the conditional; one consumer reads each."""
    with when(x > 3):
        big = mark_int(marks, "big", double(x))
    with otherwise():
        small = mark_int(marks, "small", add(x, 100))
    return label(add(total_maybe(big, small), 0), "sum")


@workflow
def picked(x: int, marks: str) -> int | None:
    """Returns a value computed inside a `when` branch."""
    with when(x > 3):
        y = mark_int(marks, "big", double(x))
    return y


@workflow
def deep(x: int, marks: str) -> str:
    """Values escaping two nested `when`s and a `map_over` inside a branch, a whole NamedTuple too."""
    with when(x > 0):
        with when(x > 3):
            y = mark_int(marks, "big", double(x))
        s = stats(map_over(lambda v: double(v), numbers(x)))
    return label(total_maybe(y, s.count), "deep")


@task
def count_maybe(data: TypedFile[CSV] | None) -> int:
    return -1 if data is None else len(data.read_text().strip().splitlines()) - 1


@workflow
def file_escapes(rows: int) -> int:
    """A file computed inside `when` and used after it (refused on Vertex)."""
    with when(rows > 3):
        f = write_csv(rows)
    return count_maybe(f)


@workflow
def operand_escapes(x: int) -> int:
    """A value from a `when` branch as a later condition's operand (refused on Vertex)."""
    with when(x > 3):
        y = double(x)
    with when(y == 20):
        double(x)
    return x


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
