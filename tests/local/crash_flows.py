"""Workflows the crash and concurrency tests kill, resume and run side by side (a real module: the
processes they start import it). Every task is deterministic, so a run killed any number of times and
resumed ends with the outputs of a clean run."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from typedflow import Retry, TypedFile, current_run, map_over, task, workflow
from typedflow.formats import Text


class Flap(Exception):
    pass


class Summary(NamedTuple):
    squares: int
    naps: int
    sizes: int
    flaps: int
    picked: int
    dropped: int


@task
def upto(n: int, salt: int) -> list[int]:
    return [i * 7 + salt for i in range(n)]


@task
def sq(x: int) -> int:
    return x * x


@task
def nap(x: int) -> int:
    # Slow enough (a few ms) to go to the worker threads.
    time.sleep(0.002 + (x % 3) * 0.001)
    return x + 1


@task
def put_num(x: int) -> TypedFile[Text]:
    f = TypedFile[Text].new(suffix=".txt")
    f.local_path().write_text(f"{x}\n" * (x % 4 + 1))
    return f


@task
def read_num(f: TypedFile[Text]) -> int:
    return sum(int(line) for line in f.read_text().splitlines())


@task(retry=Retry(attempts=3, initial_delay=0.0, backoff=1.0, max_delay=0.0, jitter=False, on=(Flap,)))
def flap(x: int) -> int:
    """Every third item fails its first attempt and succeeds on its second."""
    run = current_run()
    if x % 3 == 0 and run is not None and run.attempt == 1:
        raise Flap(f"first attempt of {x}")
    return x * 3


@task
def picky(x: int) -> int | None:
    if x % 10 == 7:
        raise ValueError(f"refuses {x}")
    return x - 1


@task
def total(squares: list[int], naps: list[int], sizes: list[int], flaps: list[int], picked: list[int | None]) -> Summary:
    return Summary(
        squares=sum(squares),
        naps=sum(naps),
        sizes=sum(sizes),
        flaps=sum(flaps),
        picked=sum(p for p in picked if p is not None),
        dropped=sum(1 for p in picked if p is None),
    )


@task
def brittle(x: int, bad: int) -> int:
    if x == bad:
        raise RuntimeError(f"brittle at {x}")
    return x + 2


@workflow
def crunch(n: int, salt: int) -> Summary:
    """Quick map items (run inline, a batch at a time), slow ones (worker threads), a two-task body,
    file outputs and inputs, retried items and tolerated failures."""
    xs = upto(n=n, salt=salt)
    squares = map_over(lambda x: sq(x=x), xs)
    naps = map_over(lambda x: sq(x=nap(x=x)), xs, max_concurrency=8)
    sizes = map_over(lambda x: read_num(f=put_num(x=x)), xs)
    flaps = map_over(lambda x: flap(x=x), xs)
    picked = map_over(lambda x: picky(x=x), xs, tolerated_failure=0.5)
    return total(squares=squares, naps=naps, sizes=sizes, flaps=flaps, picked=picked)


@workflow
def quick(n: int, salt: int) -> list[int]:
    """Only quick items: nearly all of them run on the scheduler's thread."""
    return map_over(lambda x: sq(x=x), upto(n=n, salt=salt))


@workflow
def doomed(n: int, salt: int, bad: int) -> list[int]:
    """Fails at item ``bad`` after the others ran: the run ends failed the same way however often it
    is killed and resumed."""
    xs = upto(n=n, salt=salt)
    ys = map_over(lambda x: sq(x=x), xs)
    return map_over(lambda y: brittle(x=y, bad=bad), ys)


@task
def lull(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x + os.getpid() * 0  # the same result in every process


@workflow
def lulls(n: int, seconds: float) -> list[int]:
    """Items that each take ``seconds`` on a worker thread: a run long enough to be stopped mid-map."""
    return map_over(lambda x: sq(x=lull(x=x, seconds=seconds)), upto(n=n, salt=0))


@task
def gate(x: int, flag: str) -> int:
    if Path(flag).exists():
        raise RuntimeError(f"blocked by {flag}")
    return x


@workflow
def gated_lulls(n: int, seconds: float, flag: str) -> list[int]:
    """Fails while ``flag`` exists; once it is gone, a retry runs items that take ``seconds`` each."""
    return map_over(lambda x: lull(x=gate(x=x, flag=flag), seconds=seconds), upto(n=n, salt=0))


@workflow
def flaps(n: int, salt: int) -> list[int]:
    return map_over(lambda x: flap(x=x), upto(n=n, salt=salt))
