"""Conditions on enum members and string literals."""

import enum

from typedflow import task, when, workflow


class Mode(enum.Enum):
    FAST = "fast"
    FULL = "full"


@task
def pick(name: str) -> Mode:
    return Mode.FAST if name == "quick" else Mode.FULL


@task
def train(epochs: int) -> int:
    return epochs


@workflow
def modes(name: str, mode: Mode) -> None:
    with when(pick(name) == Mode.FAST):
        train(1)
    with when((mode != Mode.FULL) & (name == "quick")):
        train(2)
