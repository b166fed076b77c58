"""KFP's condition sample (``samples/core/condition/condition_v2.py``): a second flip only on heads.

``dsl.Condition(flip1.output == 'heads')`` is ``with when(flip1 == "heads"):``. The coin is random in
the original; here it takes a seed (and, as there, a forced result), so a run can be compared with the
same logic in Python. ``print_msg`` returns what it prints, and the workflow returns every message, a
branch's as ``str | None`` (None when the branch did not run).
"""

from __future__ import annotations

import random
from typing import NamedTuple

from typedflow import task, when, workflow


class Printed(NamedTuple):
    flip1: str
    flip2: str | None
    text: str | None


@task
def flip_coin(seed: int, force_flip_result: str = "") -> str:
    if force_flip_result:
        return force_flip_result
    return "heads" if random.Random(seed).randint(0, 1) == 0 else "tails"


@task
def print_msg(msg: str) -> str:
    print(msg)
    return msg


@workflow
def condition(text: str = "condition test", force_flip_result: str = "", seed1: int = 0, seed2: int = 1) -> Printed:
    flip1 = flip_coin(seed1, force_flip_result)
    first = print_msg(flip1)
    with when(flip1 == "heads"):
        second = print_msg(flip_coin(seed2))
        shown = print_msg(text)
    return Printed(flip1=first, flip2=second, text=shown)


def _flip(seed: int) -> str:
    return "heads" if random.Random(seed).randint(0, 1) == 0 else "tails"


def reference(text: str = "condition test", force_flip_result: str = "", seed1: int = 0, seed2: int = 1) -> Printed:
    flip1 = force_flip_result or _flip(seed1)
    if flip1 == "heads":
        return Printed(flip1, _flip(seed2), text)
    return Printed(flip1, None, None)
