"""A NamedTuple output unpacked into the wrong number of names (mypy's misc); a starred name takes the rest."""

from typing import NamedTuple

from typedflow import task, workflow


class Split(NamedTuple):
    train: str
    valid: str
    test: str


@task
def split(n: int) -> Split:
    return Split("a", "b", "c")


@task
def fit(data: str) -> int:
    return 0


@workflow
def unpack(n: int) -> int:
    train, _test = split(n)  # E: misc
    first, *_rest, last = split(n)
    fit(first)
    fit(last)
    return fit(train)
