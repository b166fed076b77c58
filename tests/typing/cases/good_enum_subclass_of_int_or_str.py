"""An IntEnum is an int and a StrEnum a str, as in Python: compared with numbers or text, ordered, passed on."""

import enum

from typedflow import task, when, workflow


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Stage(enum.StrEnum):
    DEV = "dev"
    PROD = "prod"


@task
def retries(n: int) -> int:
    return n


@task
def scale(x: float) -> float:
    return x


@task
def deploy(target: str) -> str:
    return target


@task
def level_of(x: int) -> Level:
    return Level.LOW


@workflow
def release(level: Level, stage: Stage, n: int) -> None:
    with when(level == 2):
        retries(level)
    with when(level_of(n) >= Level.HIGH):
        scale(level_of(n))
    with when((stage == "prod") & (level > n)):
        deploy(stage)
