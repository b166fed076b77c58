"""Which failure a handler gets when the run has more than one: an ``exit_handler`` block that fails inside a
sub-workflow after a failure outside the block, and a node that fails the run after a map tolerated failed items.
Each handler leaves a mark with the whole ``Failure`` it got. Run on every target by
tests/semantics/test_handler_failures.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typedflow import Failure, exit_handler, map_over, task, workflow


def _seen(failure: Failure | None) -> object:
    if failure is None:
        return None
    return {"node": failure.node, "error_type": failure.error_type, "message": failure.message}


@task(cache=False)
def closing(marks: str, failure: Failure | None = None) -> None:
    Path(marks, "closed").write_text(json.dumps(_seen(failure)), encoding="utf-8")


@task(cache=False)
def noting(f: Failure, marks: str) -> None:
    Path(marks, "on_failure").write_text(json.dumps(_seen(f)), encoding="utf-8")


@task(cache=False)
def plus(x: int) -> int:
    return x + 1


@task(cache=False)
def early(x: int) -> int:
    raise ValueError(f"early {x}")


@task(cache=False)
def late(x: int, seconds: float) -> int:
    time.sleep(seconds)  # fails after `early` did
    raise KeyError(f"late {x}")


@workflow
def inner_late(x: int, seconds: float) -> int:
    return late(x=plus(x=x), seconds=seconds)


@workflow(on_failure=noting)
def block_fails_in_sub(x: int, seconds: float, marks: str) -> int:
    """``early`` (outside the block) fails first; the block fails later, inside the sub-workflow it calls."""
    early(x=x)
    with exit_handler(closing, marks=marks):
        y = inner_late(x=x, seconds=seconds)
    return plus(x=y)


@task(cache=False)
def odd_only(x: int) -> int | None:
    if x % 2 == 0:
        raise ValueError(f"even {x}")
    return x


@task(cache=False)
def count_missing(xs: list[int | None]) -> int:
    return sum(1 for x in xs if x is None)


@task(cache=False)
def explode(n: int) -> int:
    raise KeyError(f"after {n} tolerated failures")


@workflow(on_failure=noting)
def tolerated_then_failing(xs: list[int], marks: str) -> int:
    """The map tolerates its even items' failures; ``explode`` then fails the run."""
    n = count_missing(xs=map_over(lambda x: odd_only(x=x), xs, tolerated_failure=0.5))
    with exit_handler(closing, marks=marks):
        m = explode(n=n)
    return m


@workflow(on_failure=noting)
def tolerated_beside_failing(xs: list[int], marks: str) -> int:
    """As :func:`tolerated_then_failing`, with ``explode`` not reading the map's list: kfp.local cannot pass a list
    holding ``None`` (a tolerated item's place) to a task."""
    map_over(lambda x: odd_only(x=x), xs, tolerated_failure=0.5)
    with exit_handler(closing, marks=marks):
        m = explode(n=2)
    return m
