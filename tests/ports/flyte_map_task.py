"""Flyte's map tasks (flytesnacks ``advanced_composition/map_task.py``): one task over every element of a list.

``map_task(t)(data_point=data)`` is ``map_over(t, data)``; a task with some arguments bound by
``functools.partial`` is a ``map_over`` body as it is (bound to workflow inputs or to another task's
output). Flyte's map over several lists at once (zipped element by element) becomes a task that zips
them into records, and a ``map_over`` whose body reads the record's fields. The anomaly threshold is a
module constant, as in the original (a change to it reruns the task: the code digest covers it).
The original's example 2 (a task that calls another task) is a pattern it advises against, not ported.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from typedflow import map_over, task, workflow

threshold = 11


@task
def detect_anomalies(data_point: int) -> bool:
    return data_point > threshold


@workflow
def map_workflow(
    data: list[int] = [10, 12, 11, 10, 13, 12, 100, 11, 12, 10],  # noqa: B006 - encoded into the IR
) -> list[bool]:
    return map_over(detect_anomalies, data)


@task
def multi_input_task(quantity: int, price: float, shipping: float) -> float:
    return quantity * price * shipping


@workflow
def multiple_inputs_map_workflow(
    list_q: list[int] = [1, 2, 3, 4, 5],  # noqa: B006
    p: float = 6.0,
    s: float = 7.0,
) -> list[float]:
    return map_over(functools.partial(multi_input_task, price=p, shipping=s), list_q)


@task
def get_price() -> float:
    return 7.0


@workflow
def map_workflow_partial_with_task_output(
    list_q: list[int] = [1, 2, 3, 4, 5],  # noqa: B006
    s: float = 6.0,
) -> list[float]:
    return map_over(functools.partial(multi_input_task, price=get_price(), shipping=s), list_q)


class Order(NamedTuple):
    quantity: int
    price: float


@task
def orders(quantities: list[int], prices: list[float]) -> list[Order]:
    return [Order(q, p) for q, p in zip(quantities, prices, strict=True)]


@workflow
def map_workflow_with_lists(
    list_q: list[int] = [1, 2, 3, 4, 5],  # noqa: B006
    list_p: list[float] = [6.0, 9.0, 8.7, 6.5, 1.2],  # noqa: B006
    s: float = 6.0,
) -> list[float]:
    return map_over(lambda o: multi_input_task(o.quantity, o.price, shipping=s), orders(list_q, list_p))


# ----------------------------------------------------------------------------- the same logic in Python


def ref_map_workflow(data: list[int] | None = None) -> list[bool]:
    data = [10, 12, 11, 10, 13, 12, 100, 11, 12, 10] if data is None else data
    return [d > threshold for d in data]


def ref_multiple_inputs_map_workflow(list_q: list[int] | None = None, p: float = 6.0, s: float = 7.0) -> list[float]:
    return [q * p * s for q in ([1, 2, 3, 4, 5] if list_q is None else list_q)]


def ref_map_workflow_partial_with_task_output(list_q: list[int] | None = None, s: float = 6.0) -> list[float]:
    return [q * 7.0 * s for q in ([1, 2, 3, 4, 5] if list_q is None else list_q)]


def ref_map_workflow_with_lists(
    list_q: list[int] | None = None, list_p: list[float] | None = None, s: float = 6.0
) -> list[float]:
    qs = [1, 2, 3, 4, 5] if list_q is None else list_q
    ps = [6.0, 9.0, 8.7, 6.5, 1.2] if list_p is None else list_p
    return [q * p * s for q, p in zip(qs, ps, strict=True)]
