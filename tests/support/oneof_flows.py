"""``one_of()`` values read where a single value must be known before a step runs: as condition operands
(compared whole, by a field, against another one_of, in a map body) and as ``map_over`` items (also through
a sub-workflow). Run on every target by tests/semantics/test_one_of_operands.py."""

from __future__ import annotations

from typing import NamedTuple

from typedflow import map_over, one_of, orwhen, otherwise, task, when, workflow


class Score(NamedTuple):
    label: str
    n: int


@task
def double(x: int) -> int:
    return 2 * x


@task
def inc(x: int) -> int:
    return x + 1


@task
def neg(x: int) -> int:
    return -x


@task
def upto(n: int) -> list[int]:
    return list(range(n))


@task
def down_from(n: int) -> list[int]:
    return list(range(n, 0, -1))


@task
def tagged(x: int, label: str) -> str:
    return f"{label}:{x}"


@task
def scored(label: str, count: int) -> Score:
    return Score(label, count)


@workflow
def compared(x: int) -> str:
    """A three-way chain's value compared, then each arm's value merged again."""
    with when(x > 5):
        a = double(x)
    with orwhen(x > 2):
        b = inc(x)
    with otherwise():
        c = neg(x)
    v = one_of(a, b, c)
    with when(v >= 6):
        big = tagged(v, "big")
    with otherwise():
        small = tagged(v, "small")
    return one_of(big, small)


@workflow
def by_field(x: int) -> str:
    """A field of a one_of NamedTuple, and a string compared."""
    with when(x > 3):
        a = scored("many", x)
    with otherwise():
        b = scored("few", x)
    s = one_of(a, b)
    with when(s.label == "many"):
        first = tagged(s.n, "label")
    with orwhen(s.n > 1):
        second = tagged(s.n, "count")
    with otherwise():
        third = tagged(s.n, "none")
    return one_of(first, second, third)


@workflow
def two_choices(x: int, y: int) -> str:
    """One one_of compared with another."""
    with when(x > 0):
        a = double(x)
    with otherwise():
        b = neg(x)
    with when(y > 0):
        c = inc(y)
    with otherwise():
        d = neg(y)
    with when(one_of(a, b) > one_of(c, d)):
        left = tagged(x, "left")
    with otherwise():
        right = tagged(y, "right")
    return one_of(left, right)


@workflow
def items(n: int) -> list[int]:
    """A map over the list of whichever branch ran."""
    with when(n > 3):
        a = upto(n)
    with otherwise():
        b = down_from(n)
    return map_over(double, one_of(a, b))


@workflow
def doubled_all(xs: list[int]) -> list[int]:
    return map_over(double, xs)


@workflow
def items_through_sub(n: int) -> list[int]:
    """A one_of list given to a sub-workflow that maps over it."""
    with when(n > 3):
        a = upto(n)
    with otherwise():
        b = down_from(n)
    return doubled_all(one_of(a, b))


@workflow
def in_body(xs: list[int]) -> list[str]:
    """The chain, its one_of and the condition on it inside a map body."""

    def body(x: int) -> str:
        with when(x > 2):
            a = double(x)
        with otherwise():
            b = neg(x)
        v = one_of(a, b)
        with when(v > 0):
            up = tagged(v, "up")
        with otherwise():
            down = tagged(v, "down")
        return one_of(up, down)

    return map_over(body, xs)


def ref_compared(x: int) -> str:
    v = 2 * x if x > 5 else x + 1 if x > 2 else -x
    return f"big:{v}" if v >= 6 else f"small:{v}"


def ref_by_field(x: int) -> str:
    s = Score("many" if x > 3 else "few", x)
    if s.label == "many":
        return f"label:{s.n}"
    return f"count:{s.n}" if s.n > 1 else f"none:{s.n}"


def ref_two_choices(x: int, y: int) -> str:
    left = 2 * x if x > 0 else -x
    right = y + 1 if y > 0 else -y
    return f"left:{x}" if left > right else f"right:{y}"


def ref_items(n: int) -> list[int]:
    return [2 * i for i in (range(n) if n > 3 else range(n, 0, -1))]


def ref_in_body(xs: list[int]) -> list[str]:
    out = []
    for x in xs:
        v = 2 * x if x > 2 else -x
        out.append(f"up:{v}" if v > 0 else f"down:{v}")
    return out
