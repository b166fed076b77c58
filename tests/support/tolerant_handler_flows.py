"""Tolerant maps whose items hold failure handlers: a sub-workflow with ``on_failure`` (the tests import them by
module). Items are ``0..n-1``; ``fragile`` fails on 2. Each handler leaves a mark
naming its item and the failure it got."""

from __future__ import annotations

import json
from pathlib import Path

from typedflow import Failure, map_over, task, workflow

from .tolerant_body_flows import fragile, inc, numbers, settle


def _seen(failure: Failure | None) -> object:
    if failure is None:
        return None
    return {"node": failure.node.rsplit("/", 1)[-1], "error_type": failure.error_type, "message": failure.message}


@task(cache=False)
def mark_failure(f: Failure, x: int, marks: str) -> None:
    Path(marks, f"failed-{x}").write_text(json.dumps(_seen(f)), encoding="utf-8")


@task(cache=False)
def mark_badly(f: Failure, x: int, marks: str) -> None:
    Path(marks, f"failed-{x}").write_text(json.dumps(_seen(f)), encoding="utf-8")
    raise RuntimeError(f"handler of item {x} fails")


# ----------------------------------------------------------------------------- a sub-workflow's on_failure


@workflow(on_failure=mark_failure)
def guarded(x: int, marks: str) -> int:
    return inc(fragile(x))


@workflow(on_failure=mark_badly)
def guarded_badly(x: int, marks: str) -> int:
    return inc(fragile(x))


@workflow
def calls_guarded(n: int, marks: str) -> list[int | None]:
    """The sub-workflow fails in item 2: its handler runs, and the item still fails (as locally)."""
    return map_over(lambda x: settle(guarded(x=x, marks=marks)), numbers(n), tolerated_failure=0.5)


@workflow
def calls_guarded_past(n: int, marks: str) -> list[int | None]:
    return map_over(lambda x: settle(guarded(x=x, marks=marks)), numbers(n), tolerated_failure=0.1)


@workflow
def calls_guarded_on_failed(n: int, marks: str) -> list[int | None]:
    """Called with a failed task's value (item 2): it never runs, nor does its handler; item 1 fails inside it."""
    return map_over(lambda x: settle(guarded(x=fragile(x), marks=marks)), numbers(n), tolerated_failure=0.5)


@workflow
def calls_guarded_badly(n: int, marks: str) -> list[int | None]:
    """A handler that fails itself changes nothing: the item had failed already."""
    return map_over(lambda x: settle(guarded_badly(x=x, marks=marks)), numbers(n), tolerated_failure=0.5)
