"""Random typed workflows (tasks, diamonds, when/otherwise, map_over) as real modules."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

_ids = itertools.count()

PRELUDE = """
from typing import NamedTuple
from typedflow import map_over, otherwise, task, when, workflow


class Pair(NamedTuple):
    first: int
    second: str


@task
def f0(x: int) -> int:
    return (x * 7 + 3) % 1009


@task
def f1(a: int, b: int) -> int:
    return (a * 31 + b) % 1009


@task
def fp(a: int) -> Pair:
    return Pair(a % 97, "p" + str(a % 13))


@task
def fs(p: str, b: int) -> int:
    return (len(p) * 17 + b) % 1009


@task
def spread(a: int) -> list[int]:
    return [a % 5, a % 7, a % 11][: a % 3 + 1]


@task
def total(xs: list[int]) -> int:
    return sum(xs) % 1009


@task
def opt(a: int | None, b: int) -> int:
    return b if a is None else (a + b) % 1009
"""


@st.composite
def steps(draw: Any, max_steps: int = 6) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in range(draw(st.integers(1, max_steps))):
        n = i + 1  # values v0 (the input) .. v{i}
        pick = st.integers(0, n - 1)
        kind = draw(st.sampled_from(["t1", "t2", "t2", "pair", "when", "map"]))
        if kind == "when":
            op = draw(st.sampled_from([">", "<=", "==", "!="]))
            out.append(("when", draw(pick), op, draw(st.integers(0, 600)), draw(pick), draw(pick), draw(st.booleans())))
        else:
            out.append((kind, draw(pick), draw(pick)))
    return out


def source(program: list[tuple[Any, ...]]) -> str:
    body = ["@workflow", "def wf(x: int) -> int:", "    v0 = f0(x)"]
    for i, step in enumerate(program, start=1):
        kind = step[0]
        if kind == "t1":
            body.append(f"    v{i} = f0(v{step[1]})")
        elif kind == "t2":
            body.append(f"    v{i} = f1(v{step[1]}, v{step[2]})")
        elif kind == "pair":
            body.append(f"    p{i} = fp(v{step[1]})")
            body.append(f"    v{i} = fs(p{i}.second, p{i}.first)")
        elif kind == "map":
            body.append(f"    v{i} = total(map_over(lambda it: f1(f0(it), v{step[2]}), spread(v{step[1]})))")
        else:
            _, a, op, c, b, d, has_else = step
            body.append(f"    with when(v{a} {op} {c}):")
            body.append(f"        w{i} = f1(v{b}, v{d})")
            if has_else:
                body.append("    with otherwise():")
                body.append(f"        f0(v{b})")
            body.append(f"    v{i} = opt(w{i}, v{d})")
    last = len(program)
    body.append(f"    return f1(v{last}, v{max(0, last - 1)})")
    return PRELUDE + "\n\n" + "\n".join(body) + "\n"


def load(tmp: Path, text: str) -> ModuleType:
    from tests.conftest import import_source

    return import_source(tmp, text, name=f"tf_sfn_dag_{next(_ids)}")
