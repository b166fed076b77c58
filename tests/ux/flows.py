"""Workflows for the command-line tests of tests/ux (a real module: process workers import it)."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import NamedTuple

import attrs

from typedflow import Retry, TypedFile, task, workflow
from typedflow.formats import CSV

MARKS = Path(os.environ.get("TF_UX_MARKS", "/tmp/tf-ux-marks"))


def mark(name: str) -> int:
    """Record one execution of ``name`` (a file each, across processes); how many there have been."""
    MARKS.mkdir(parents=True, exist_ok=True)
    (MARKS / f"{name}-{time.time_ns()}-{os.getpid()}").write_text("1")
    return len(list(MARKS.glob(f"{name}-*")))


def marks(name: str) -> int:
    return len(list(MARKS.glob(f"{name}-*")))


@task
def nap(x: int, seconds: float) -> int:
    """Sleeps ``seconds`` the first time it runs for ``x``, briefly after that (a resumed run)."""
    first = mark(f"nap{x}") == 1
    time.sleep(seconds if first else 0.05)
    return x


@task
def add3(a: int, b: int, c: int) -> int:
    return a + b + c


@workflow
def naps(short: float, medium: float, long: float) -> int:
    """Three tasks side by side: when stopped mid-run, one has finished, one finishes within the grace
    period, one is abandoned."""
    return add3(a=nap(x=1, seconds=short), b=nap(x=2, seconds=medium), c=nap(x=3, seconds=long))


class Flaky(Exception):
    pass


@task(retry=Retry(attempts=3, initial_delay=0.3, backoff=1.0, jitter=False, on=(Flaky,)))
def shaky(x: int) -> int:
    """Fails its first attempt."""
    if mark(f"shaky{x}") == 1:
        raise Flaky(f"first attempt for {x}")
    return x


@task
def slow_table(rows: int, seconds: float) -> TypedFile[CSV]:
    time.sleep(seconds)
    out = TypedFile[CSV].new(suffix=".csv")
    Path(out).write_text("a\n" + "".join(f"{i}\n" for i in range(rows)), encoding="utf-8")
    return out


@task
def where(data: TypedFile[CSV], folder: str) -> str:
    """Copies the table into ``folder``; returns the copy's absolute path."""
    dest = Path(folder).absolute() / "table.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(Path(data).read_bytes())
    return str(dest)


class Report(NamedTuple):
    table: TypedFile[CSV]
    copy: str
    checked: int


@workflow
def report(rows: int, folder: str, seconds: float) -> Report:
    """A slow task, a retried one, a file output and a str output that names a path."""
    table = slow_table(rows=rows, seconds=seconds)
    return Report(table=table, copy=where(data=table, folder=folder), checked=shaky(x=rows))


@workflow
def one_nap(seconds: float) -> int:
    """One task, alone: it runs on the scheduler's own thread."""
    return nap(x=4, seconds=seconds)


# ----------------------------------------------------------------------------- record field defaults


@attrs.frozen
class Config:
    n_estimators: int
    max_depth: int = 3
    tags: list[str] = attrs.Factory(list)


@dataclasses.dataclass(frozen=True)
class Limits:
    low: float = 0.0
    high: float = 1.0
    names: tuple[str, ...] = dataclasses.field(default_factory=lambda: ("a", "b"))


class Point(NamedTuple):
    x: int
    y: int = 7
    label: str | None = None


@attrs.frozen
class Plan:
    configs: list[Config]
    limits: Limits = Limits()
    origin: Point | None = None


@task
def describe(plan: Plan, extra: dict[str, Config]) -> str:
    return repr((plan, sorted(extra.items())))


@workflow
def planned(plan: Plan, extra: dict[str, Config]) -> str:
    return describe(plan=plan, extra=extra)
