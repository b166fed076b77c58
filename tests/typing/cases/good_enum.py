"""Enums pass by identity of their class."""

import enum

from typedflow import task, workflow


class Split(enum.Enum):
    TRAIN = "train"
    TEST = "test"


@task
def choose(n: int) -> Split:
    return Split.TRAIN


@task
def load(split: Split) -> int:
    return 0


@workflow
def enums(n: int) -> int:
    load(Split.TEST)
    return load(choose(n))
