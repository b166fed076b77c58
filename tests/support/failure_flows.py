"""A sub-workflow with its own on_failure, inside a workflow with one: run on every target."""

from __future__ import annotations

import json
from pathlib import Path

from typedflow import Failure, map_over, task, workflow


@task
def bump(x: int) -> int:
    return x + 1


@task
def explode(x: int) -> int:
    if x > 3:
        raise ValueError(f"cannot handle {x}")
    return x


@task(cache=False)
def note_inner(f: Failure, marks: str) -> None:
    Path(marks, "inner").write_text(json.dumps({"node": f.node, "error_type": f.error_type, "message": f.message}))


@task(cache=False)
def note_outer(f: Failure, marks: str) -> None:
    Path(marks, "outer").write_text(json.dumps({"node": f.node, "error_type": f.error_type, "message": f.message}))


@workflow(on_failure=note_inner)
def inner(x: int, marks: str) -> int:
    return explode(bump(x))


@workflow(on_failure=note_outer)
def outer(x: int, marks: str) -> int:
    return bump(inner(x=x, marks=marks))


@workflow(on_failure=note_outer)
def outer_map(xs: list[int], marks: str) -> list[int]:
    return map_over(lambda x: inner(x=x, marks=marks), xs)
