"""tuple[T, ...] is a sequence: covariant, and it accepts fixed tuples of T (frozen configs use it)."""

import attrs

from typedflow import map_over, task, workflow


@attrs.frozen
class Config:
    name: str
    tags: tuple[str, ...] = ()


@task
def pair(n: int) -> tuple[bool, bool]:
    return (True, n > 0)


@task
def flags(n: int) -> tuple[bool, ...]:
    return (n > 0,) * n


@task
def count(xs: tuple[int, ...]) -> int:
    return len(xs)


@task
def configure(name: str) -> Config:
    return Config(name, ("a", "b"))


@task
def shout(tag: str) -> str:
    return tag.upper()


@task
def tags_of(cfg: Config) -> tuple[str, ...]:
    return cfg.tags


@workflow
def variadic(n: int) -> list[str]:
    count(flags(n))
    count(pair(n))
    return map_over(shout, tags_of(configure("x")))
