"""Workflows whose tasks report what ``typedflow.current_run()`` tells them, run on every target."""

from __future__ import annotations

import threading
from typing import NamedTuple

import typedflow
from typedflow import Retry, map_over, task, workflow


class Flaky(Exception):
    pass


# Their results depend on the run, not only on their inputs: never cached (docs/concepts.md).
@task(cache=False)
def whereabouts(x: int) -> str:
    """The context as the task sees it, without what differs by target (its name, the run id)."""
    ctx = typedflow.current_run()
    return f"{ctx.workflow}|{ctx.node}|{ctx.attempt}|{ctx.ir_digest}|{x}"


@task(cache=False)
def target_and_run(x: int) -> str:
    ctx = typedflow.current_run()
    return f"{ctx.target}|{ctx.run_id}|{x}"


class Seen(NamedTuple):
    first: str
    second: str
    target: str


@workflow
def context_plain(x: int, y: int) -> Seen:
    first = whereabouts(x=x)
    second = whereabouts(x=y)
    return Seen(first, second, target_and_run(x=x))


@workflow
def context_mapped(xs: list[int]) -> list[str]:
    return map_over(lambda x: whereabouts(x=x), xs)


_ATTEMPTS: dict[str, int] = {}
_LOCK = threading.Lock()


@task(retry=Retry(attempts=3, initial_delay=0.01, backoff=1.0, on=(Flaky,)), cache=False)
def attempt_seen(key: str) -> str:
    """Fails on its first attempt (per key, in this process), then says which attempt it is."""
    with _LOCK:
        _ATTEMPTS[key] = _ATTEMPTS.get(key, 0) + 1
        first = _ATTEMPTS[key] == 1
    if first:
        raise Flaky(f"first attempt of {key}")
    return f"{typedflow.current_run().node}|{typedflow.current_run().attempt}"


@workflow
def context_retried(key: str) -> str:
    return attempt_seen(key=key)


@workflow
def context_inner(x: int) -> str:
    return whereabouts(x=x)


@workflow
def context_nested(xs: list[int]) -> list[str]:
    return map_over(lambda x: context_inner(x=x), xs)
