"""Tolerant maps whose items hold failure handlers: a sub-workflow with ``on_failure``, an ``exit_handler`` block (the
tests import them by module). Items are ``0..n-1``; ``fragile`` fails on 2. Each handler leaves a mark
naming its item and the failure it got."""

from __future__ import annotations

import json
from pathlib import Path

from typedflow import Failure, exit_handler, map_over, task, workflow

from .tolerant_body_flows import fragile, inc, numbers, settle


def _seen(failure: Failure | None) -> object:
    if failure is None:
        return None
    return {"node": failure.node.rsplit("/", 1)[-1], "error_type": failure.error_type, "message": failure.message}


@task(cache=False)
def mark_failure(f: Failure, x: int, marks: str) -> None:
    Path(marks, f"failed-{x}").write_text(json.dumps(_seen(f)), encoding="utf-8")


@task(cache=False)
def closing(x: int, marks: str, failure: Failure | None = None) -> None:
    Path(marks, f"closed-{x}").write_text(json.dumps(_seen(failure)), encoding="utf-8")


@task(cache=False)
def closing_badly(x: int, marks: str, failure: Failure | None = None) -> None:
    Path(marks, f"closed-{x}").write_text(json.dumps(_seen(failure)), encoding="utf-8")
    if x == 1:
        raise RuntimeError(f"handler of item {x} fails")


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


# ----------------------------------------------------------------------------- exit_handler


@workflow
def closes(n: int, marks: str) -> list[int | None]:
    """The block fails in item 2: its handler gets that failure, and the item fails; the others get None."""

    def body(x: int) -> int | None:
        with exit_handler(closing, x=x, marks=marks):
            y = fragile(x)
        return settle(y)

    return map_over(body, numbers(n), tolerated_failure=0.5)


@workflow
def closes_past(n: int, marks: str) -> list[int | None]:
    def body(x: int) -> int | None:
        with exit_handler(closing, x=x, marks=marks):
            y = fragile(x)
        return settle(y)

    return map_over(body, numbers(n), tolerated_failure=0.1)


@workflow
def closes_on_failed(n: int, marks: str) -> list[int | None]:
    """The block reads a failed task's value (item 2): it never runs, nor does its handler."""

    def body(x: int) -> int | None:
        y = fragile(x)
        with exit_handler(closing, x=x, marks=marks):
            z = inc(y)
        return settle(z)

    return map_over(body, numbers(n), tolerated_failure=0.5)


@workflow
def closes_badly(n: int, marks: str) -> list[int | None]:
    """The handler of item 1 fails after its block succeeded: the item fails (as locally), and so does item 2."""

    def body(x: int) -> int | None:
        with exit_handler(closing_badly, x=x, marks=marks):
            fragile(x)
            w = inc(x)
        return settle(w)

    return map_over(body, numbers(n), tolerated_failure=0.5)
