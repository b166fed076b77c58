"""A record of every supported value type relayed across task boundaries (tests/semantics/test_value_relay.py)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from typedflow import task, workflow


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Mode(enum.Enum):
    FAST = "fast"
    FULL = "full"


class Pair(NamedTuple):
    name: str
    weight: float = 0.5


@dataclass
class Values:
    f: float
    i: int
    s: str
    b: bool
    raw: bytes
    at: dt.datetime
    day: dt.date
    level: Level
    mode: Mode
    fixed: tuple[int, str]
    seq: tuple[float, ...]
    maybe: int | None
    maybes: list[float | None]
    table: dict[str, list[int]]
    pair: Pair
    pairs: list[Pair] = field(default_factory=list)


def _seen(v: Any) -> Any:
    """What a task sees of ``v``: every type and value, containers in the order it iterates them."""
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return [type(v).__name__, {k: _seen(getattr(v, k)) for k in v._fields}]
    if isinstance(v, list | tuple):
        return [type(v).__name__, [_seen(x) for x in v]]
    if isinstance(v, dict):
        return ["dict", [[k, _seen(x)] for k, x in v.items()]]
    if isinstance(v, Values):
        return ["Values", {f.name: _seen(getattr(v, f.name)) for f in fields(v)}]
    if isinstance(v, dt.datetime):
        return ["datetime", v.isoformat(), str(v.utcoffset())]
    if isinstance(v, float):
        return ["float", v.hex()]  # -0.0 and 0.0 differ here
    return [type(v).__name__, repr(v)]


@task
def relay(v: Values) -> Values:
    return v


@task(cache=False)
def describe(v: Values) -> str:
    return json.dumps(_seen(v))


@workflow
def relayed(v: Values) -> str:
    return describe(v=relay(v=relay(v=v)))
