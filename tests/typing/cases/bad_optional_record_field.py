"""A field of an Optional record output: mypy's union-attr, the tracer's attr-defined."""

from typing import NamedTuple

from typedflow import task, workflow


class Found(NamedTuple):
    path: str


@task
def find(n: int) -> Found | None:
    return None


@task
def read(path: str) -> int:
    return 0


@workflow
def optional_field(n: int) -> int:
    return read(find(n).path)  # E[mypy]: union-attr  # E[tracer]: attr-defined
