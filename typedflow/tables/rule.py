"""The one compatibility rule between column schemas, for both checkers.

A consumer's schema is satisfied by a producer's when the producer has every column the consumer
declares, by name, with the same type. Extra producer columns are fine and column order does not
matter. A column that may hold nulls (``Optional``) satisfies only an ``Optional`` column; a column
without nulls satisfies both. There is no numeric widening: an int column is not a float column.
Value constraints (:class:`~typedflow.tables.Check`) are not compared here; they are checked on the
data when it is produced and when it is received.

The definition-time checker applies it to the IR's schemas, the mypy plugin to the schema classes
it reads from the source; both describe a violation with :func:`describe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Col(NamedTuple):
    """What the rule looks at in a column."""

    name: str
    type: str  # bool, int, float, str, date, datetime, decimal, bytes
    nullable: bool


_SHOWN = {"decimal": "Decimal"}


def show(c: Col) -> str:
    return _SHOWN.get(c.type, c.type) + (" | None" if c.nullable else "")


def mismatches(producer: Sequence[Col], consumer: Sequence[Col]) -> list[str]:
    """Each way ``producer`` fails ``consumer`` (empty when it satisfies it), in the consumer's order."""
    have = {c.name: c for c in producer}
    out = []
    for want in consumer:
        got = have.get(want.name)
        if got is None:
            out.append(f'missing column "{want.name}"')
        elif got.type != want.type:
            out.append(f'column "{want.name}" is {show(got)}, expected {show(want)}')
        elif got.nullable and not want.nullable:
            out.append(f'column "{want.name}" is {show(got)} (may hold nulls), expected {show(want)}')
    return out


def satisfies(producer: Sequence[Col] | None, consumer: Sequence[Col] | None) -> bool:
    """Whether a producer schema satisfies a consumer's; None (a format without a schema: any
    columns) satisfies and is satisfied by every schema, the data being checked when it runs."""
    if producer is None or consumer is None:
        return True
    return not mismatches(producer, consumer)


def describe(producer_name: str, producer: Sequence[Col], consumer_name: str, consumer: Sequence[Col]) -> str:
    """``Raw does not have the columns of Features: missing column "x"; column "y" is str, expected float``."""
    return f"{producer_name} does not have the columns of {consumer_name}: " + "; ".join(mismatches(producer, consumer))
