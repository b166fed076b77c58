"""Artifact formats: classes, never strings, so static checkers see them as types.

A user format is a subclass of :class:`Format` (or of a built-in one, which makes it assignable
where the base is expected). ``Any`` is the root: ``TypedFile[Any]`` accepts every format.

The table formats (CSV, TSV, Parquet, JSONL) take a column schema: ``Parquet[Raw]`` is Parquet
whose files have (at least) the columns of the :class:`~typedflow.tables.Columns` class ``Raw``;
bare ``Parquet`` means any columns.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar, Generic

from typedflow.tables.columns import Columns

if TYPE_CHECKING:
    # PEP 696 default: a bare ``Parquet`` means ``Parquet[Columns]`` (any columns), also under
    # ``mypy --strict``. Only type checkers read this; at run time no default is needed.
    from typing_extensions import TypeVar

    S = TypeVar("S", bound=Columns, covariant=True, default=Columns)
else:
    from typing import TypeVar

    S = TypeVar("S", bound=Columns, covariant=True)


class Format:
    """Base of every artifact format. Subclasses set ``name`` (and optionally ``suffix``)."""

    name: ClassVar[str] = "any"
    suffix: ClassVar[str] = ""
    schema_title: ClassVar[str] = "system.Artifact"
    """The KFP/Vertex artifact schema this format maps to."""
    columns: ClassVar[type[Columns] | None] = None
    """The column schema of a table format given one (``Parquet[Raw].columns is Raw``)."""


Any = Format
"""``TypedFile[Any]``: a file of any format (equivalent to bare ``TypedFile``)."""


_WITH_COLUMNS: dict[tuple[type, type], type] = {}
_LOCK = threading.Lock()


class Tabular(Format, Generic[S]):
    """A table format: ``Fmt[Schema]`` is the same format with a column schema.

    At run time ``Parquet[Raw]`` is a subclass of ``Parquet`` (made once, then reused) whose
    ``columns`` is ``Raw``; for type checkers it is the generic ``Parquet`` applied to ``Raw``.
    """

    schema_title = "system.Dataset"

    if not TYPE_CHECKING:

        def __class_getitem__(cls, params):
            if isinstance(params, TypeVar):  # ``class CSV(Tabular[S])``: the generic base
                return super().__class_getitem__(params)
            return with_columns(cls, params)


def with_columns(fmt: type[Format], schema: object) -> type[Format]:
    """``fmt[schema]``: the format ``fmt`` with the column schema ``schema`` (cached per pair)."""
    if not (isinstance(schema, type) and issubclass(schema, Columns)):
        raise TypeError(f"{fmt.__qualname__}[...] takes a Columns subclass (a column schema), got {schema!r}")
    if fmt.columns is not None:
        raise TypeError(f"{fmt.__qualname__} already has the column schema {fmt.columns.__qualname__}")
    if schema is Columns:
        return fmt  # any columns: the format itself
    key = (fmt, schema)
    made = _WITH_COLUMNS.get(key)
    if made is None:
        with _LOCK:
            made = _WITH_COLUMNS.get(key)
            if made is None:
                qualname = f"{fmt.__qualname__}[{schema.__qualname__}]"
                made = type(
                    f"{fmt.__name__}[{schema.__name__}]",
                    (fmt,),
                    {"columns": schema, "__module__": fmt.__module__, "__qualname__": qualname, "_with_columns": True},
                )
                _WITH_COLUMNS[key] = made
    return made


class CSV(Tabular[S]):
    name = "csv"
    suffix = ".csv"


class TSV(Tabular[S]):
    name = "tsv"
    suffix = ".tsv"


class Parquet(Tabular[S]):
    name = "parquet"
    suffix = ".parquet"


class JSON(Format):
    name = "json"
    suffix = ".json"


class JSONL(Tabular[S]):
    name = "jsonl"
    suffix = ".jsonl"


class Text(Format):
    name = "text"
    suffix = ".txt"


class Binary(Format):
    name = "binary"
    suffix = ".bin"


class ONNX(Format):
    name = "onnx"
    suffix = ".onnx"
    schema_title = "system.Model"


BUILTIN: tuple[type[Format], ...] = (Format, CSV, TSV, Parquet, JSON, JSONL, Text, Binary, ONNX)


def format_key(fmt: type[Format]) -> str:
    """Stable identity of a format class: ``module:Qualname`` (``typedflow.formats:Parquet[Raw]``
    for a table format given a schema)."""
    return f"{fmt.__module__}:{fmt.__qualname__}"


def _declared(c: type) -> bool:
    """A format class someone wrote (not one made by ``Fmt[Schema]``, nor the generic base)."""
    return "_with_columns" not in c.__dict__ and c is not Tabular


def format_lineage(fmt: type[Format]) -> tuple[str, ...]:
    """The declared format and its Format ancestors, most specific first (what it is assignable to);
    ``Parquet[Raw]`` is assignable to what ``Parquet`` is, its schema permitting."""
    return tuple(format_key(c) for c in fmt.__mro__ if isinstance(c, type) and issubclass(c, Format) and _declared(c))
