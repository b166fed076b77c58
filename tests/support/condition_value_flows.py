"""Conditions whose operands are edge values of their types (tests/semantics/test_condition_values.py)."""

from __future__ import annotations

import enum
from datetime import date
from typing import Any, NamedTuple

from typedflow import task, when, workflow


@task
def echo(s: str) -> str:
    return s


@workflow
def not_two_lines(s: str) -> str | None:
    with when(echo(s) != "two\nlines\tand a tab"):  # a literal with control characters
        kept = echo(s)
    return kept


@task
def flag(b: bool) -> bool:
    return b


@workflow
def flag_is_one(b: bool) -> str | None:
    with when(flag(b) == 1):  # True == 1 in Python
        kept = echo("one")
    return kept


class Verdict(NamedTuple):
    lt: bool | None
    le: bool | None
    eq: bool | None
    ne: bool | None
    gt: bool | None
    ge: bool | None


@task
def whole(i: int) -> int:
    return i


@task
def real(f: float) -> float:
    return f


@task
def holds() -> bool:
    return True


@workflow
def numbers(i: int, f: float) -> Verdict:
    a = whole(i)
    b = real(f)
    with when(a < b):
        lt = holds()
    with when(a <= b):
        le = holds()
    with when(a == b):
        eq = holds()
    with when(a != b):
        ne = holds()
    with when(a > b):
        gt = holds()
    with when(a >= b):
        ge = holds()
    return Verdict(lt, le, eq, ne, gt, ge)


@workflow
def texts(s: str, t: str) -> Verdict:
    a = echo(s)
    b = echo(t)
    with when(a < b):
        lt = holds()
    with when(a <= b):
        le = holds()
    with when(a == b):
        eq = holds()
    with when(a != b):
        ne = holds()
    with when(a > b):
        gt = holds()
    with when(a >= b):
        ge = holds()
    return Verdict(lt, le, eq, ne, gt, ge)


@task
def day(d: date) -> date:
    return d


@workflow
def dates(d: date, e: date) -> Verdict:
    a = day(d)
    with when(a < e):
        lt = holds()
    with when(a <= e):
        le = holds()
    with when(a == e):
        eq = holds()
    with when(a != e):
        ne = holds()
    with when(a > e):
        gt = holds()
    with when(a >= e):
        ge = holds()
    return Verdict(lt, le, eq, ne, gt, ge)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@workflow
def levels(level: Level, n: int) -> Verdict:
    b = whole(n)
    with when(level < b):
        lt = holds()
    with when(level <= b):
        le = holds()
    with when(level == b):
        eq = holds()
    with when(level != b):
        ne = holds()
    with when(level > b):
        gt = holds()
    with when(level >= b):
        ge = holds()
    return Verdict(lt, le, eq, ne, gt, ge)


def verdict(a: Any, b: Any) -> dict[str, bool | None]:
    """The outputs the same comparisons give in plain Python (a branch that did not run gives None)."""
    said = {"lt": a < b, "le": a <= b, "eq": a == b, "ne": a != b, "gt": a > b, "ge": a >= b}
    return {k: (holds() if v else None) for k, v in said.items()}


@workflow
def at_the_int_limit(f: float) -> Verdict:
    # the largest literal int a condition may hold, against a float output: exact on every target
    a = real(f)
    with when(a < 9007199254740991):
        lt = holds()
    with when(a <= 9007199254740991):
        le = holds()
    with when(a == 9007199254740991):
        eq = holds()
    with when(a != 9007199254740991):
        ne = holds()
    with when(a > 9007199254740991):
        gt = holds()
    with when(a >= 9007199254740991):
        ge = holds()
    return Verdict(lt, le, eq, ne, gt, ge)


class Stage(enum.StrEnum):
    DEV = "dev"
    PROD = "prod"


class Tier(str, enum.Enum):  # noqa: UP042  # a str-mixin enum written without StrEnum
    FREE = "free"
    PAID = "paid"


@task
def stage(s: str) -> Stage:
    return Stage(s)


@task
def tier(s: str) -> Tier:
    return Tier(s)


@task
def label(st: Stage, t: Tier) -> str:
    return f"{st.name}/{t.name}"


@workflow
def str_enums(s: str, t: str) -> Verdict:
    # members returned by tasks, handed on, and ordered against text
    a = stage(s)
    b = tier(t)
    named = label(a, b)
    with when(a < b):
        lt = holds()
    with when(a <= "dev"):
        le = holds()
    with when(a == Stage.PROD):
        eq = holds()
    with when(named != "DEV/FREE"):
        ne = holds()
    with when(b > "m"):
        gt = holds()
    with when(b >= echo(s)):
        ge = holds()
    return Verdict(lt, le, eq, ne, gt, ge)


def str_enum_verdict(s: str, t: str) -> dict[str, bool | None]:
    """What the same body gives in plain Python."""
    a, b = stage(s), tier(t)
    said = {"lt": a < b, "le": a <= "dev", "eq": a == Stage.PROD, "ne": label(a, b) != "DEV/FREE"}
    said |= {"gt": b > "m", "ge": b >= echo(s)}
    return {k: (holds() if v else None) for k, v in said.items()}
