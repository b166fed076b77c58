"""KFP's nested conditions sample (``samples/core/condition/nested_condition.py``).

A condition inside a condition, comparing two tasks' outputs (``flip2 == flip3``). The four coins
take seeds so that runs are reproducible; the workflow returns what each ``print_op`` printed.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from typedflow import task, when, workflow


class Printed(NamedTuple):
    flip1: str
    flip2: str
    flip3: str | None
    flip4: str | None


@task
def flip_coin_op(seed: int) -> str:
    return "heads" if random.Random(seed).randint(0, 1) == 0 else "tails"


@task
def print_op(msg: str) -> str:
    print(msg)
    return msg


@workflow
def my_pipeline(seed1: int = 1, seed2: int = 2, seed3: int = 3, seed4: int = 4) -> Printed:
    flip1 = flip_coin_op(seed1)
    printed1 = print_op(flip1)
    flip2 = flip_coin_op(seed2)
    printed2 = print_op(flip2)
    with when(flip1 != "no-such-result"):  # always true, as in the original
        flip3 = flip_coin_op(seed3)
        printed3 = print_op(flip3)
        with when(flip2 == flip3):
            printed4 = print_op(flip_coin_op(seed4))
    return Printed(printed1, printed2, printed3, printed4)


def reference(seed1: int = 1, seed2: int = 2, seed3: int = 3, seed4: int = 4) -> Printed:
    def flip(seed: int) -> str:
        return "heads" if random.Random(seed).randint(0, 1) == 0 else "tails"

    flip1, flip2 = flip(seed1), flip(seed2)
    flip3 = flip4 = None
    if flip1 != "no-such-result":
        flip3 = flip(seed3)
        if flip2 == flip3:
            flip4 = flip(seed4)
    return Printed(flip1, flip2, flip3, flip4)
