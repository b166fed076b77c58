"""Flyte's conditionals (flytesnacks ``advanced_composition/conditional.py``).

Flyte's ``conditional(...).if_(...).then(...).elif_(...).else_().fail(...)`` expression is a
``when``/``orwhen``/``otherwise`` chain here, and the value it produces is ``one_of(...)`` of the
values the branches compute (typed ``float``, not ``float | None``: the chain is complete). A branch
that ends the run is ``fail("message")``; conditions on a bool output are ``when(flag)``. Flyte's echo
task (a branch that passes a value through) is an ordinary task. The coin toss is seeded, as in the
original, so a run is reproducible.
"""

from __future__ import annotations

import random

from typedflow import fail, one_of, orwhen, otherwise, task, when, workflow


@task
def circumference(radius: float) -> float:
    return 2 * 3.14 * radius


@task
def area(radius: float) -> float:
    return 3.14 * radius * radius


@task
def coin_toss(seed: int) -> bool:
    return random.Random(seed).random() < 0.5


@task
def success() -> int:
    return 0


@task
def failed() -> int:
    return -1


@task
def echo(radius: float) -> float:
    return radius


@workflow
def shape_properties(radius: float) -> float:
    with when((radius >= 0.1) & (radius < 1.0)):
        small = circumference(radius)
    with otherwise():
        large = area(radius)
    return one_of(small, large)


@workflow
def shape_properties_with_multiple_branches(radius: float) -> float:
    with when((radius >= 0.1) & (radius < 1.0)):
        small = circumference(radius)
    with orwhen((radius >= 1.0) & (radius <= 10.0)):
        large = area(radius)
    with otherwise():
        fail("The input must be within the range of 0 to 10.")
    return one_of(small, large)


@workflow
def shape_properties_accept_conditional_output(radius: float) -> float:
    with when((radius >= 0.1) & (radius < 1.0)):
        small = circumference(radius)
    with orwhen((radius >= 1.0) & (radius <= 10.0)):
        large = area(radius)
    with otherwise():
        fail("The input must exist between 0 and 10.")
    return area(one_of(small, large))


@workflow
def boolean_wf(seed: int = 5) -> int:
    with when(coin_toss(seed)):
        heads = success()
    with otherwise():
        tails = failed()
    return one_of(heads, tails)


@workflow
def boolean_input_wf(boolean_input: bool) -> int:
    with when(boolean_input):
        yes = success()
    with otherwise():
        no = failed()
    return one_of(yes, no)


@workflow
def nested_conditions(radius: float) -> float:
    with when((radius >= 0.1) & (radius < 1.0)):
        with when(radius < 0.5):
            tiny = circumference(radius)
        with orwhen((radius >= 0.5) & (radius < 0.9)):
            mid = area(radius)
        with otherwise():
            fail("0.9 is an outlier.")
        inner = echo(one_of(tiny, mid))
    with orwhen((radius >= 1.0) & (radius <= 10.0)):
        large = area(radius)
    with otherwise():
        fail("The input must be within the range of 0 to 10.")
    return one_of(inner, large)


@workflow
def consume_task_output(radius: float, seed: int = 5) -> float:
    with when(coin_toss(seed)):
        heads = circumference(radius)
    with otherwise():
        tails = area(radius)
    return one_of(heads, tails)


@workflow
def noop_in_conditional(radius: float, seed: int = 5) -> float:
    with when(coin_toss(seed)):
        heads = circumference(radius)
    with otherwise():
        passed = echo(radius)
    return one_of(heads, passed)


# ----------------------------------------------------------------------------- the same logic in Python


class Failed(Exception):
    """What the original's ``.fail(message)`` branch raises."""


def _circumference(r: float) -> float:
    return 2 * 3.14 * r


def _area(r: float) -> float:
    return 3.14 * r * r


def _heads(seed: int) -> bool:
    return random.Random(seed).random() < 0.5


def ref_shape_properties(radius: float) -> float:
    return _circumference(radius) if 0.1 <= radius < 1.0 else _area(radius)


def ref_shape_properties_with_multiple_branches(radius: float) -> float:
    if 0.1 <= radius < 1.0:
        return _circumference(radius)
    if 1.0 <= radius <= 10.0:
        return _area(radius)
    raise Failed("The input must be within the range of 0 to 10.")


def ref_shape_properties_accept_conditional_output(radius: float) -> float:
    if 0.1 <= radius < 1.0:
        return _area(_circumference(radius))
    if 1.0 <= radius <= 10.0:
        return _area(_area(radius))
    raise Failed("The input must exist between 0 and 10.")


def ref_boolean_wf(seed: int = 5) -> int:
    return 0 if _heads(seed) else -1


def ref_boolean_input_wf(boolean_input: bool) -> int:
    return 0 if boolean_input else -1


def ref_nested_conditions(radius: float) -> float:
    if 0.1 <= radius < 1.0:
        if radius < 0.5:
            return _circumference(radius)
        if 0.5 <= radius < 0.9:
            return _area(radius)
        raise Failed("0.9 is an outlier.")
    if 1.0 <= radius <= 10.0:
        return _area(radius)
    raise Failed("The input must be within the range of 0 to 10.")


def ref_consume_task_output(radius: float, seed: int = 5) -> float:
    return _circumference(radius) if _heads(seed) else _area(radius)


def ref_noop_in_conditional(radius: float, seed: int = 5) -> float:
    return _circumference(radius) if _heads(seed) else radius
