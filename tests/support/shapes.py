"""Large workflow shapes as real modules: a long chain, a wide fan-out/fan-in, deep nesting of
when / map_over / sub-workflow blocks. Each ``*_source`` gives the module text; ``expected`` what the
workflow returns for its input, computed without typedflow."""

from __future__ import annotations

from collections.abc import Sequence

_TASKS = """
from typedflow import map_over, task, when, workflow


@task
def inc(x: int | None) -> int:
    return (x or 0) + 1


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def one(x: int | None) -> list[int]:
    return [x or 0]


@task
def total(xs: list[int | None]) -> int | None:
    return sum(x or 0 for x in xs)


@task
def maybe(x: int | None) -> int | None:
    return (x or 0) + 1


@task
def settle(x: int | None) -> int | None:
    return x
"""


def chain_source(n: int) -> str:
    body = "\n".join("    x = inc(x)" for _ in range(n))
    return f"{_TASKS}\n\n@workflow\ndef chain(x: int) -> int:\n{body}\n    return x\n"


def fan_source(n: int) -> str:
    """``n`` tasks on the input, then a binary tree of sums down to one value."""
    lines = [f"    y{i} = inc(x)" for i in range(n)]
    names = [f"y{i}" for i in range(n)]
    k = 0
    while len(names) > 1:
        nxt = []
        for i in range(0, len(names) - 1, 2):
            lines.append(f"    z{k} = add({names[i]}, {names[i + 1]})")
            nxt.append(f"z{k}")
            k += 1
        if len(names) % 2:
            nxt.append(names[-1])
        names = nxt
    body = "\n".join(lines)
    return f"{_TASKS}\n\n@workflow\ndef fan(x: int) -> int:\n{body}\n    return {names[0]}\n"


KINDS = ("when", "map", "sub")


def nested_source(kinds: Sequence[str]) -> str:
    """Blocks nested ``len(kinds)`` deep, ``kinds[0]`` outermost: each level adds one to its input, a
    ``when`` whose condition holds, a one-item ``map_over`` summed, or a sub-workflow of its own."""
    out = [_TASKS, "\n\ndef level0(x):\n    return maybe(x)\n"]
    for depth, kind in enumerate(reversed(kinds), start=1):
        inner = f"level{depth - 1}"
        if kind == "when":
            out.append(
                f"\n\ndef level{depth}(x):\n    with when(x > -1):\n        r = {inner}(inc(x))\n    return settle(r)\n"
            )
        elif kind == "map":
            out.append(f"\n\ndef level{depth}(x):\n    return total(map_over({inner}, one(inc(x))))\n")
        elif kind == "sub":
            out.append(
                f"\n\n@workflow\ndef sub{depth}(x: int | None) -> int | None:\n    return {inner}(inc(x))\n"
                f"\n\ndef level{depth}(x):\n    return sub{depth}(x)\n"
            )
        else:
            raise ValueError(kind)
    out.append(f"\n\n@workflow\ndef nested(x: int) -> int | None:\n    return level{len(kinds)}(x)\n")
    return "".join(out)


def expected(shape: str, size: int | Sequence[str], x: int) -> int:
    if shape == "chain":
        assert isinstance(size, int)
        return x + size
    if shape == "fan":
        assert isinstance(size, int)
        return size * (x + 1)
    assert not isinstance(size, int)
    return x + len(size) + 1  # every level adds one, then the innermost task
