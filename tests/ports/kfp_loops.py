"""KFP's loop samples (``samples/core/loop_parameter``, ``loop_static``, ``loop_output``, ``loop_parallelism``).

``dsl.ParallelFor(items) as item`` is ``map_over(body, items)``: over a task's list output (of records,
whose fields the body reads: ``item.a``), over a literal list of records, over a list of strings, and
with ``parallelism=10`` as ``max_concurrency=10``. The original's items are untyped dicts (or JSON
strings); here they are NamedTuples, so a misspelt field is an error before anything runs. The bodies'
results are the workflows' results (what the original prints), collected in item order.
"""

from __future__ import annotations

from typing import NamedTuple

from typedflow import map_over, task, workflow


class Pair(NamedTuple):
    a: int
    b: int


class TextPair(NamedTuple):
    a: str
    b: str


class Scores(NamedTuple):
    A_a: int
    B_b: int


class Looped(NamedTuple):
    greeting: str
    printed: list[str]


@task
def print_op(text: str) -> str:
    print(text)
    return text


@task
def print_int(s: int) -> int:
    print(s)
    return s


@task
def concat_op(a: str, b: str) -> str:
    return a + b


@task
def concat_ints(a: int, b: int) -> str:
    return f"{a}{b}"


@task
def generate_op() -> list[Pair]:
    return [Pair(i, i * 10) for i in range(1, 5)]


@task
def args_generator_op() -> list[str]:
    return ["1.1", "1.2", "1.3"]


@workflow
def loop_parameter(greeting: str = "this is a test for looping through parameters") -> Looped:
    printed = print_op(greeting)
    items = generate_op()
    return Looped(printed, map_over(lambda item: print_op(concat_ints(item.a, item.b)), items))


@workflow
def loop_static(greeting: str = "this is a test for looping through parameters") -> Looped:
    printed = print_op(greeting)
    items = [TextPair("1", "2"), TextPair("10", "20")]
    return Looped(printed, map_over(lambda item: print_op(concat_op(item.a, item.b)), items))


@workflow
def loop_output() -> list[str]:
    return map_over(print_op, args_generator_op())


@workflow
def loop_parallelism() -> list[Scores]:
    return map_over(
        lambda item: Scores(print_int(item.A_a), print_int(item.B_b)),
        [Scores(1, 2), Scores(10, 20)],
        max_concurrency=10,
    )


def ref_loop_parameter(greeting: str = "this is a test for looping through parameters") -> Looped:
    return Looped(greeting, [f"{i}{i * 10}" for i in range(1, 5)])


def ref_loop_static(greeting: str = "this is a test for looping through parameters") -> Looped:
    return Looped(greeting, [a + b for a, b in (("1", "2"), ("10", "20"))])


def ref_loop_output() -> list[str]:
    return ["1.1", "1.2", "1.3"]


def ref_loop_parallelism() -> list[Scores]:
    return [Scores(1, 2), Scores(10, 20)]
