"""Workflows used by the local interpreter tests (a real module: process workers import it)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from typedflow import (
    Failure,
    Retry,
    TypedDirectory,
    TypedFile,
    exit_handler,
    map_over,
    otherwise,
    task,
    when,
    workflow,
)
from typedflow.formats import CSV, Text

COUNTER_DIR = Path(os.environ.get("TF_TEST_COUNTER", "/tmp/tf-counters"))


def bump(name: str) -> int:
    """Count executions across processes (one file per execution)."""
    COUNTER_DIR.mkdir(parents=True, exist_ok=True)
    path = COUNTER_DIR / f"{name}-{time.time_ns()}-{os.getpid()}"
    path.write_text("1")
    return len(list(COUNTER_DIR.glob(f"{name}-*")))


def executions(name: str) -> int:
    return len(list(COUNTER_DIR.glob(f"{name}-*")))


class Stats(NamedTuple):
    total: int
    mean: float


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def stats(xs: list[int]) -> Stats:
    return Stats(total=sum(xs), mean=sum(xs) / max(1, len(xs)))


@task
def sleepy(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


@task
def stamp(x: int, seconds: float) -> list[float]:
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]


@workflow
def diamond(x: int) -> int:
    a = inc(x=x)
    b = inc(x=a)
    c = add(a=a, b=x)
    return add(a=b, b=c)


@workflow
def fanout(xs: list[int]) -> Stats:
    ys = map_over(lambda v: add(a=inc(x=v), b=v), xs, max_concurrency=3)
    return stats(xs=ys)


@workflow
def incs(xs: list[int]) -> list[int]:
    return map_over(inc, xs)


@workflow
def sleepies(xs: list[int], seconds: float) -> list[int]:
    return map_over(lambda x: sleepy(x=x, seconds=seconds), xs)


class Pt(NamedTuple):
    a: int
    b: int


@task
def weigh(a: int, b: int, base: int, k: int, scale: int) -> int:
    if a < 0:
        raise ValueError(f"negative a: {a}")
    return (a - b) * scale + base + k


@workflow
def weighed(pts: list[Pt], scale: int) -> list[int]:
    # One task per item, fed by the item's fields, an upstream output, a constant and a workflow input.
    base = inc(x=scale)
    return map_over(lambda p: weigh(a=p.a, b=p.b, base=base, k=3, scale=scale), pts)


@workflow
def weighed_rows(rows: list[list[Pt]]) -> list[list[int]]:
    return map_over(lambda row: weighed(pts=row, scale=2), rows)


@workflow
def branches(x: int) -> int | None:
    y = inc(x=x)
    with when(y > 5):
        big = add(a=y, b=100)
    with otherwise():
        inc(x=y)
    return big


@workflow
def gated(x: int) -> int:
    y = inc(x=x)
    with when(y > 5):
        add(a=y, b=100)
    return y


@workflow
def gated_all(xs: list[int]) -> list[int]:
    return map_over(lambda v: gated(x=v), xs)


@workflow
def overlap(seconds: float) -> list[list[float]]:
    return map_over(lambda i: stamp(x=i, seconds=seconds), [0, 1, 2, 3])


class Flaky(Exception):
    pass


@task(retry=Retry(attempts=4, initial_delay=1.0, backoff=2.0, max_delay=3.0, on=(Flaky,)))
def flaky(x: int, failures: int, tag: str) -> int:
    n = bump(tag)
    if n <= failures:
        raise Flaky(f"attempt {n} failed")
    return x * 10


@task(retry=Retry(attempts=3, initial_delay=0.0, on=(Flaky,)))
def wrong_kind(x: int) -> int:
    raise KeyError("not retried")


@workflow
def retrying(x: int, failures: int, tag: str) -> int:
    return flaky(x=x, failures=failures, tag=tag)


@workflow
def not_retried(x: int) -> int:
    return wrong_kind(x=x)


class Flakier(Flaky):
    pass


@task(retry=Retry(attempts=3, initial_delay=0.0, on=(Flaky, ConnectionError)))
def flaky_subclass(x: int, tag: str) -> int:
    # Raises subclasses of what the policy names: a retry policy matches like `except`.
    n = bump(tag)
    if n == 1:
        raise Flakier(f"attempt {n} failed")
    if n == 2:
        raise ConnectionRefusedError(f"attempt {n} failed")
    return x * 10


@workflow
def retrying_subclass(x: int, tag: str) -> int:
    return flaky_subclass(x=x, tag=tag)


@task
def boom(x: int) -> int:
    raise ValueError(f"bad value {x}")


@task
def notify(failure: Failure, channel: str) -> str:
    out = COUNTER_DIR / "notified.txt"
    COUNTER_DIR.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{channel}|{failure.node}|{failure.error_type}|{failure.message}")
    return "sent"


@workflow(on_failure=notify)
def failing(x: int, channel: str) -> int:
    a = boom(x=x)
    b = inc(x=a)
    c = inc(x=x)
    d = inc(x=c)
    return add(a=b, b=d)


@task(timeout=0.3)
def too_slow(x: int) -> int:
    time.sleep(30)  # far beyond its timeout, so that a test can tell it was cut short however busy the machine
    return x


@workflow
def timing_out(x: int) -> int:
    return too_slow(x=x)


@task
def crash(x: int) -> int:
    os._exit(3)


@workflow
def crashing(x: int) -> int:
    a = crash(x=x)
    b = inc(x=x)
    return add(a=a, b=b)


@task
def pid(x: int) -> int:
    return os.getpid()


@workflow
def pids(xs: list[int]) -> list[int]:
    return map_over(lambda v: pid(x=v), xs)


@task
def write_csv(n: int) -> TypedFile[CSV]:
    f = TypedFile[CSV].new(suffix=".csv")
    with f.open("w") as fh:
        for i in range(n):
            fh.write(f"{i},{i * i}\n")
    return f


@task
def count_rows(data: TypedFile[CSV]) -> int:
    return len(data.read_text().splitlines())


@task
def bundle(data: TypedFile[CSV]) -> TypedDirectory[Text]:
    d = TypedDirectory[Text].new()
    (d.local_path() / "a.txt").write_text(data.read_text())
    (d.local_path() / "sub").mkdir()
    (d.local_path() / "sub" / "b.txt").write_text("b")
    return d


@task
def list_files(d: TypedDirectory[Text]) -> list[str]:
    return [p.local_path().name for p in d]


@workflow
def files(n: int) -> int:
    data = write_csv(n=n)
    names = list_files(d=bundle(data=data))
    return add(a=count_rows(data=data), b=stats(xs=map_over(lambda s: inc(x=0), names)).total)


@task
def slow_step(x: int, tag: str) -> int:
    bump(tag + "-" + str(x))
    time.sleep(0.4)
    return x * 2


@workflow
def long_chain(tag: str) -> int:
    a = slow_step(x=1, tag=tag)
    b = slow_step(x=a, tag=tag)
    c = slow_step(x=b, tag=tag)
    d = slow_step(x=c, tag=tag)
    return slow_step(x=d, tag=tag)


@task(cache=False)
def uncached(x: int, tag: str) -> int:
    bump(tag)
    return x


@workflow
def with_uncached(x: int, tag: str) -> int:
    return uncached(x=x, tag=tag)


@task
def stats_of(x: int) -> Stats:
    return Stats(total=x, mean=x / 2)


@task
def half(v: float) -> float:
    return v / 2


@workflow
def inner(x: int) -> Stats:
    return stats_of(x=x)


@workflow
def outer(x: int) -> float:
    s = inner(x=x)
    return half(v=s.mean)


@task
def scaled(x: float, /, factor: float = 2.0, *, shift: float = 0.0) -> float:
    return x * factor + shift


@workflow
def rescaled(x: float, /, *, factor: float = 3.0) -> float:
    return scaled(x, factor, shift=1.0)


@workflow
def positional_only(x: float) -> float:
    """Positional-only and keyword-only parameters of a task and a sub-workflow, given as Python allows."""
    return scaled(rescaled(x, factor=4.0), shift=0.5)


@task(retry=Retry(attempts=2, initial_delay=0.0))
def crash_once(x: int, tag: str) -> int:
    """Kills its worker on the first execution under ``tag``; the retry runs in a fresh worker."""
    if bump(tag) == 1:
        os._exit(3)
    return x + 1


@workflow
def crash_mid_chain(x: int, tag: str) -> int:
    a = crash_once(x=inc(x=x), tag=tag)
    return inc(x=crash_once(x=inc(x=a), tag=tag))


@task
def shout(x: int) -> int:
    print("printed by the task")
    os.write(1, b"written to fd 1 by the task\n")  # as C code or a child process would
    subprocess.run(["echo", "a child process on fd 1"], check=True)
    return x + 1


@workflow
def noisy(x: int) -> int:
    return shout(x=x)


@task(timeout=0.5)
def leaves_a_child(x: int) -> int:
    subprocess.Popen(["sleep", "30"])  # still running when the task times out
    time.sleep(30)
    return x


@workflow
def orphaning(x: int) -> int:
    return leaves_a_child(x=x)


@task(retry=Retry(attempts=2, initial_delay=0.4, backoff=1.0, jitter=False, on=(Flaky,)))
def flaky_once(x: int, tag: str) -> int:
    if x >= 8 and bump(f"{tag}-{x}") == 1:  # the first eight succeed at once: the template is known quick
        raise Flaky(f"first try of {x}")
    return x * 10


@workflow
def flaky_items(xs: list[int], tag: str) -> list[int]:
    return map_over(lambda v: flaky_once(x=v, tag=tag), xs)


@task(timeout=0.2)
def just_too_slow(x: int) -> int:
    time.sleep(0.4)  # finishes, abandoned, soon after its timeout
    return x


@workflow
def late(x: int) -> int:
    return just_too_slow(x=x)


@task
def rows_of_both(a: TypedFile[CSV], b: TypedFile[CSV]) -> int:
    return len(a.read_text().splitlines()) + len(b.read_text().splitlines())


@workflow
def two_files(a: TypedFile[CSV], b: TypedFile[CSV]) -> int:
    return rows_of_both(a=a, b=b)


# ----------------------------------------------------------------------------- quick map items


class Boom(Exception):
    pass


@task(retry=Retry(attempts=2, initial_delay=0.0, backoff=1.0, max_delay=0.0, on=(Boom,)))
def quirky(x: int, marks: str) -> int:
    """x % 5 == 0 fails (not retried); x % 5 == 1 fails its first attempt (retried); else x * 10.
    Each execution leaves a file in ``marks`` naming the thread it ran on."""
    import threading

    Path(marks, f"{x}-{time.time_ns()}").write_text(threading.current_thread().name)
    if x % 5 == 0:
        raise ValueError(f"bad {x}")
    if x % 5 == 1 and len(list(Path(marks).glob(f"{x}-*"))) == 1:
        raise Boom(f"first attempt of {x}")
    return x * 10


@workflow
def quirks(xs: list[int], marks: str) -> list[int]:
    return map_over(lambda x: quirky(x=x, marks=marks), xs)


@task
def seen_failure(failure: Failure | None = None) -> str:
    return "none" if failure is None else f"{failure.node}|{failure.error_type}"


@task
def later_boom(x: int, seconds: float) -> int:
    time.sleep(seconds)  # fails after the failure outside the block
    raise KeyError(f"later {x}")


@workflow
def inner_later(x: int, seconds: float) -> int:
    return later_boom(x=inc(x=x), seconds=seconds)


@workflow
def closed_sub(x: int, seconds: float) -> int:
    boom(x=x)  # outside the block, fails first
    with exit_handler(seen_failure):
        y = inner_later(x=x, seconds=seconds)
    return inc(x=y)


@task
def odd_only(x: int) -> int | None:
    if x % 2 == 0:
        raise ValueError(f"even {x}")
    return x


@task
def count_missing(xs: list[int | None]) -> int:
    return sum(1 for x in xs if x is None)


@task
def explode_later(n: int) -> int:
    raise KeyError(f"after {n} tolerated failures")


@workflow(on_failure=notify)
def tolerated_then_failing(xs: list[int], channel: str) -> int:
    n = count_missing(xs=map_over(lambda x: odd_only(x=x), xs, tolerated_failure=0.5))
    with exit_handler(seen_failure):
        m = explode_later(n=n)
    return m
