"""``Columns`` (a column schema is a class whose annotations are its columns) and ``Check``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    # For type checkers a schema class derives from Any: every schema is then assignable to every
    # other, so ``TypedFile[Parquet[Raw]]`` meets ``TypedFile[Parquet[Features]]`` as far as plain
    # mypy is concerned, and typedflow's mypy plugin applies the column rule in its place (the same
    # rule the definition-time checker applies). Formats stay nominal: Parquet[X] is never a CSV.
    class Columns(Any):  # type: ignore[misc]
        """Base of column schemas: each annotation of a subclass is a column."""

else:

    class Columns:
        """Base of column schemas: each annotation of a subclass is a column.

        ::

            class Raw(Columns):
                id: Annotated[int, Check(unique=True)]
                age: Annotated[float, Check(ge=0, le=130)]
                country: str | None

        Column types: bool, int, float, str, date, datetime, Decimal, bytes, ``Optional`` of one
        (the column may hold nulls; others may not), each optionally ``Annotated`` with
        :class:`Check` constraints. A subclass has its bases' columns, then its own.
        """

        __slots__ = ()

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            raise TypeError(f"{cls.__qualname__} is a column schema; it has no instances")


class SchemaError(Exception):
    """A table file whose data does not match its column schema."""


SchemaError.__module__ = "typedflow.tables"  # how a failed task names it


def _values(v: Iterable[Any] | None) -> tuple[Any, ...] | None:
    if v is None:
        return None
    if isinstance(v, str | bytes):
        raise TypeError("Check(isin=...) takes a collection of values, not a single string")
    if isinstance(v, set | frozenset):  # in order: a set's order follows hashing, which changes per process
        try:
            return tuple(sorted(v))
        except TypeError:  # values of no one order: the check refuses them where the schema is used
            return tuple(sorted(v, key=repr))
    return tuple(v)


@attrs.frozen(kw_only=True)
class Check:
    """Value constraints of a column, declared as ``Annotated[T, Check(...)]``.

    ``ge``/``gt``/``le``/``lt``: bounds every non-null value must respect (values of the column's
    type: numbers, dates, datetimes, Decimals or strings; a float NaN is not bounded); ``isin``:
    the allowed values; ``unique``: no value appears twice (nulls aside).
    """

    ge: Any = None
    gt: Any = None
    le: Any = None
    lt: Any = None
    isin: tuple[Any, ...] | None = attrs.field(default=None, converter=_values)
    unique: bool = False

    def __attrs_post_init__(self) -> None:
        if all(v is None for v in (self.ge, self.gt, self.le, self.lt, self.isin)) and not self.unique:
            raise TypeError("Check() needs at least one constraint: ge, gt, le, lt, isin or unique")
