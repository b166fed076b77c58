"""``map_over`` items holding ``exit_handler`` blocks, some of which fail: every item's handler runs (a failed
item does not stop its siblings), and the run fails with a failed item's error. Run on every target by
tests/semantics/test_item_handlers.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typedflow import Failure, exit_handler, map_over, task, workflow


@task(cache=False)
def step(marks: str, x: int) -> int:
    """Fails for a negative ``x``; else waits ``x`` tenths of a second (so siblings are still running when
    another item fails) and leaves a mark."""
    if x < 0:
        raise ValueError(f"item {x} fails")
    time.sleep(x / 10)
    Path(marks, f"body{x}").write_text(str(x), encoding="utf-8")
    return 10 * x


@task(cache=False)
def closing(marks: str, x: int, failure: Failure | None = None) -> None:
    seen = (
        None
        if failure is None
        else {"node": failure.node, "error_type": failure.error_type, "message": failure.message}
    )
    Path(marks, f"closed{x}").write_text(json.dumps(seen), encoding="utf-8")


@task(cache=False)
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def handled_items(xs: list[int], marks: str) -> int:
    def body(x: int) -> int:
        with exit_handler(closing, marks=marks, x=x):
            y = step(marks, x)
        return y

    return total(map_over(body, xs))


@workflow
def handled_distributed(xs: list[int], marks: str) -> int:
    """The same items as child executions (a Distributed Map on Step Functions)."""

    def body(x: int) -> int:
        with exit_handler(closing, marks=marks, x=x):
            y = step(marks, x)
        return y

    return total(map_over(body, xs, distributed=True))


@task(cache=False)
def tenth(y: int) -> int:
    return y // 10 + 1


@workflow
def handled_after_a_step(xs: list[int], marks: str) -> list[int]:
    """An item that fails before its block starts: its handler does not run (the block never ran), its
    siblings' do."""

    def body(x: int) -> int:
        first = step(marks, x)
        with exit_handler(closing, marks=marks, x=x):
            y = step(marks, tenth(first))
        return y

    return map_over(body, xs)


@workflow
def nested_items(groups: list[list[int]], marks: str) -> list[list[int]]:
    """The block in an inner map: every item of every group has its handler run."""

    def inner(x: int) -> int:
        with exit_handler(closing, marks=marks, x=x):
            y = step(marks, x)
        return y

    return map_over(lambda g: map_over(inner, g), groups)
