"""Which failure a handler gets when the run has more than one: an ``exit_handler`` block that fails inside a
sub-workflow after a failure outside the block, a node that fails the run after a map tolerated failed items, and
``fail(...)`` (at the top, in a sub-workflow's block, in map items). Each handler leaves a mark with the whole
``Failure`` it got. Run on every target by
tests/semantics/test_handler_failures.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typedflow import Failure, exit_handler, fail, map_over, task, when, workflow


def _fields(failure: Failure) -> dict[str, str]:
    return {"node": failure.node, "error_type": failure.error_type, "message": failure.message}


def _seen(failure: Failure | None) -> object:
    return None if failure is None else _fields(failure)


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


# ----------------------------------------------------------------------------- fail(...)


@workflow(on_failure=noting)
def refuses_at_top(x: int, marks: str) -> int:
    """``fail`` in the run's own graph: ``on_failure`` gets the ``fail`` node's Failure."""
    y = plus(x=x)
    with when(y > 1):
        fail("x is too big")
    return plus(x=y)


@task(cache=False)
def slow_plus(x: int, seconds: float) -> int:
    time.sleep(seconds)  # refuses after `early` failed
    return x + 1


@workflow
def inner_refuses(x: int, seconds: float) -> int:
    y = slow_plus(x=x, seconds=seconds)
    with when(y > 1):
        fail("refused inside")
    return y


@workflow(on_failure=noting)
def block_refuses_in_sub(x: int, seconds: float, marks: str) -> int:
    """``early`` (outside the block) fails first; the block then fails by design inside its sub-workflow."""
    early(x=x)
    with exit_handler(closing, marks=marks):
        y = inner_refuses(x=x, seconds=seconds)
    return plus(x=y)


@task(cache=False)
def closing_item(marks: str, x: int, failure: Failure | None = None) -> None:
    seen = None if failure is None else {**_fields(failure), "traceback": failure.traceback}
    Path(marks, f"closed{x}").write_text(json.dumps(seen), encoding="utf-8")


@workflow
def refuses_items(xs: list[int], marks: str) -> list[int]:
    """Items whose block fails by design: each item's handler gets its own item's ``fail`` node."""

    def body(x: int) -> int:
        with exit_handler(closing_item, marks=marks, x=x):
            y = plus(x=x)
            with when(y > 2):
                fail("item refused")
        return y

    return map_over(body, xs)


@workflow(on_failure=noting)
def refuses_distributed(xs: list[int], marks: str) -> list[int]:
    """The same items as child executions (a Distributed Map on Step Functions)."""

    def body(x: int) -> int:
        with exit_handler(closing_item, marks=marks, x=x):
            y = plus(x=x)
            with when(y > 2):
                fail("item refused")
        return y

    return map_over(body, xs, distributed=True)


@workflow
def refuses_nested(groups: list[list[int]], marks: str) -> list[list[int]]:
    """The block in an inner map: the node key holds both items' indices."""

    def body(x: int) -> int:
        with exit_handler(closing_item, marks=marks, x=x):
            y = plus(x=x)
            with when(y > 2):
                fail("item refused")
        return y

    return map_over(lambda g: map_over(body, g), groups)


# ----------------------------------------------------------------------------- a failed Batch job


@task(cache=False)
def crunch(x: int, seconds: float) -> int:
    """Run on AWS Batch in tests/stepfunctions/test_sfn_batch_failures.py, where the stand-in's job fails
    without running it (as one killed for memory does); locally it fails after `early` did."""
    time.sleep(seconds)
    raise MemoryError(f"crunch {x}")


@workflow(on_failure=noting)
def batch_job_fails(x: int, seconds: float, marks: str) -> int:
    """``early`` (outside the block) fails first; then the block's job fails."""
    early(x=x)
    with exit_handler(closing, marks=marks):
        y = crunch(x=x, seconds=seconds)
    return plus(x=y)


@workflow
def batch_items_fail(xs: list[int], seconds: float, marks: str) -> list[int]:
    """Every item's job fails: each item's handler gets its own item's node."""

    def body(x: int) -> int:
        with exit_handler(closing_item, marks=marks, x=x):
            y = crunch(x=x, seconds=seconds)
        return y

    return map_over(body, xs)
