"""Tolerant maps whose items hold more than tasks: a ``fail``, sub-workflows, ``when`` blocks, nested maps (the
tests import them by module). Items are ``0..n-1``; ``fragile`` fails on 2."""

from __future__ import annotations

from pathlib import Path

from typedflow import TypedFile, after, fail, map_over, one_of, otherwise, task, when, workflow
from typedflow.formats import Text


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def fragile(x: int) -> int:
    if x == 2:
        raise ValueError(f"item {x} fails")
    return 2 * x


@task
def flaky(x: int) -> int | None:
    if x == 2:
        raise ValueError(f"item {x} fails")
    return 2 * x


@task
def inc(x: int) -> int:
    return x + 1


@task
def neg(x: int) -> int:
    return -x


@task
def settle(x: int) -> int | None:
    return x + 100


@task
def upto(x: int) -> list[int]:
    return list(range(x + 1))


@task
def fragile_upto(x: int) -> list[int]:
    if x == 2:
        raise ValueError(f"item {x} fails")
    return list(range(x + 1))


@task
def total(xs: list[int]) -> int | None:
    return sum(xs)


@task
def count_none(xs: list[int | None]) -> int | None:
    return 10 * len(xs) + sum(1 for x in xs if x is None)


# ----------------------------------------------------------------------------- fail(...)


def _refused(x: int) -> int | None:
    y = inc(x)
    with when(y == 3):
        fail("item 2 is refused")
    return settle(y)


@workflow
def refuses(n: int) -> list[int | None]:
    """A fail() in a branch fails its item."""
    return map_over(_refused, numbers(n), tolerated_failure=0.5)


@workflow
def refuses_past(n: int) -> list[int | None]:
    return map_over(_refused, numbers(n), tolerated_failure=0.1)


def _always(x: int) -> int | None:
    y = settle(x)
    fail("every item is refused")
    return y


@workflow
def refuses_all(n: int) -> list[int | None]:
    """A fail() outside any branch: every item fails, all tolerated."""
    return map_over(_always, numbers(n), tolerated_failure=1.0)


# ----------------------------------------------------------------------------- sub-workflows


@workflow
def twice(x: int) -> int | None:
    return settle(inc(x))


@workflow
def breaks(x: int) -> int:
    return inc(fragile(x))


@workflow
def calls_after_failure(n: int) -> list[int | None]:
    """A sub-workflow reading a failed task's value: it stands down."""
    return map_over(lambda x: twice(fragile(x)), numbers(n), tolerated_failure=0.5)


@workflow
def calls_failing(n: int) -> list[int | None]:
    """A task failing inside the sub-workflow fails the item."""
    return map_over(lambda x: settle(breaks(x)), numbers(n), tolerated_failure=0.5)


@workflow
def calls_failing_past(n: int) -> list[int | None]:
    return map_over(lambda x: settle(breaks(x)), numbers(n), tolerated_failure=0.1)


def _ordered_refusal(x: int) -> int | None:
    y = twice(fragile(x))
    with after(y):
        with when(x == 3):
            fail("item 3 is refused")
    return y


@workflow
def refuses_after_call(n: int) -> list[int | None]:
    """A block ordered after a sub-workflow call that stood down stands down too; a fail() after it that runs."""
    return map_over(_ordered_refusal, numbers(n), tolerated_failure=0.5)


# ----------------------------------------------------------------------------- when


def _branchy(x: int) -> int | None:
    y = fragile(x)
    with when(y > 2):
        a = inc(y)
    with otherwise():
        b = neg(y)
    return settle(one_of(a, b))


@workflow
def branches_on_failed(n: int) -> list[int | None]:
    """A condition reading a failed task's value: no branch runs on its stand-in."""
    return map_over(_branchy, numbers(n), tolerated_failure=0.5)


def _fails_in_branch(x: int) -> int | None:
    out = None
    with when(x > 0):
        out = settle(fragile(x))
    return out


@workflow
def fails_in_branch(n: int) -> list[int | None]:
    """A task failing inside a branch, the branch's value read after it."""
    return map_over(_fails_in_branch, numbers(n), tolerated_failure=0.5)


@workflow
def sub_branchy(y: int) -> int | None:
    with when(y > 2):
        a = inc(y)
    with otherwise():
        b = neg(y)
    return settle(one_of(a, b))


@workflow
def calls_branching(n: int) -> list[int | None]:
    """A sub-workflow's condition reading its argument, a failed task's value: no branch runs on it."""
    return map_over(lambda x: sub_branchy(fragile(x)), numbers(n), tolerated_failure=0.5)


# ----------------------------------------------------------------------------- nested map_over


@workflow
def nested_plain(n: int) -> list[int | None]:
    """An inner map tolerating nothing: one failed inner item fails the outer item."""
    return map_over(lambda x: total(map_over(fragile, upto(x))), numbers(n), tolerated_failure=0.5)


@workflow
def nested_tolerant(n: int) -> list[int | None]:
    """An inner map with its own tolerance: within it the outer item succeeds, past it the outer item fails."""
    return map_over(
        lambda x: count_none(map_over(flaky, upto(x), tolerated_failure=0.3)), numbers(n), tolerated_failure=0.5
    )


@workflow
def nested_over_failed(n: int) -> list[int | None]:
    """An inner map over the list a failed task did not produce."""
    return map_over(lambda x: total(map_over(inc, fragile_upto(x))), numbers(n), tolerated_failure=0.5)


@workflow
def nested_past(n: int) -> list[int | None]:
    return map_over(lambda x: total(map_over(fragile, upto(x))), numbers(n), tolerated_failure=0.1)


# ----------------------------------------------------------------------------- file artifacts


@task
def write(x: int) -> TypedFile[Text]:
    if x == 2:
        raise ValueError(f"item {x} fails")
    out = TypedFile[Text].new(suffix=".txt")
    Path(out).write_text("x" * x, encoding="utf-8")
    return out


@task
def note(x: int) -> TypedFile[Text]:
    out = TypedFile[Text].new(suffix=".txt")
    Path(out).write_text("x" * x, encoding="utf-8")
    return out


@task
def size(f: TypedFile[Text]) -> int | None:
    return len(f.read_text())


@workflow
def noted(x: int) -> TypedFile[Text]:
    return note(x)


@workflow
def writes(n: int) -> list[int | None]:
    """A task writing a file fails: the task reading it stands down."""
    return map_over(lambda x: size(write(x)), numbers(n), tolerated_failure=0.5)


@workflow
def writes_after_failure(n: int) -> list[int | None]:
    """A sub-workflow returning a file, called with a failed task's value."""
    return map_over(lambda x: size(noted(fragile(x))), numbers(n), tolerated_failure=0.5)


@workflow
def writes_past(n: int) -> list[int | None]:
    return map_over(lambda x: size(write(x)), numbers(n), tolerated_failure=0.1)


@task
def sizes(fs: list[TypedFile[Text]]) -> int | None:
    return sum(len(f.read_text()) for f in fs)


@task
def some(xs: list[int | None]) -> int | None:
    return sum(x for x in xs if x is not None)


@workflow
def nested_files(n: int) -> list[int | None]:
    """An inner map collecting files: they go on as handles; a file failing in inner item 2 fails the outer item."""
    return map_over(lambda x: sizes(map_over(write, upto(x))), numbers(n), tolerated_failure=0.5)


@workflow
def nested_files_mapped(n: int) -> list[int | None]:
    """The files an inner map collected, the items of another inner map."""
    return map_over(lambda x: some(map_over(size, map_over(write, upto(x)))), numbers(n), tolerated_failure=0.5)


@workflow
def nested_files_past(n: int) -> list[int | None]:
    return map_over(lambda x: sizes(map_over(write, upto(x))), numbers(n), tolerated_failure=0.1)


@task
def plus(x: int, y: int) -> int:
    return x + y


def _branch_reads_failed(x: int) -> int | None:
    y = fragile(x)
    b = None
    with when(x >= 0):
        neg(x)
        b = inc(y)
    return b


@workflow
def branch_reads_failed(n: int) -> list[int | None]:
    """A branch whose condition reads no failed value, one of whose tasks does: locally the block never starts."""
    return map_over(_branch_reads_failed, numbers(n), tolerated_failure=0.5)


def _body_reads_failed(x: int) -> int | None:
    y = fragile(x)
    return total(map_over(lambda z: plus(neg(z), y), upto(x)))


@workflow
def body_reads_failed(n: int) -> list[int | None]:
    """An inner map whose items do not read a failed value, one of whose tasks does: locally the map never starts."""
    return map_over(_body_reads_failed, numbers(n), tolerated_failure=0.5)
