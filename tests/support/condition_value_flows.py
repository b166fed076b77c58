"""Conditions whose operands are edge values of their types (tests/semantics/test_condition_values.py)."""

from __future__ import annotations

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
