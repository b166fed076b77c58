"""map_over over a literal list of records (a grid written in the workflow) and of enum members."""

import enum
from typing import NamedTuple

from typedflow import map_over, task, workflow


class Config(NamedTuple):
    n_estimators: int
    max_depth: int = 3


class Split(enum.Enum):
    TRAIN = "train"
    TEST = "test"


@task
def train(cfg: Config) -> float:
    return cfg.n_estimators / 100


@task
def rows(split: Split) -> int:
    return 10 if split is Split.TRAIN else 2


@task
def best(scores: list[float]) -> float:
    return max(scores)


@workflow
def grid() -> float:
    map_over(rows, [Split.TRAIN, Split.TEST])
    scores = map_over(train, [Config(50), Config(100, max_depth=5)])

    return best(scores)
