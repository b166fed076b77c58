"""A ``Columns`` class as the IR's :class:`~typedflow.ir.Schema`, and what identifies a schema."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import types
import typing
from functools import cache
from typing import Annotated, Any

from typedflow import ir
from typedflow.errors import UnsupportedType
from typedflow.ir.canonical import digest
from typedflow.ir.codec import converter
from typedflow.tables.columns import Check, Columns

COLUMN_TYPES: dict[Any, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    dt.date: "date",
    dt.datetime: "datetime",
    decimal.Decimal: "decimal",
    bytes: "bytes",
}
"""Python annotation -> the IR's column type."""

SHOWN: dict[str, str] = {v: k.__name__ for k, v in COLUMN_TYPES.items()}
"""The IR's column type -> how a user writes it (``decimal`` -> ``Decimal``)."""

# What a bound or allowed value of each column type may be, before it is written as typed JSON.
_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "date": (dt.date,),
    "datetime": (dt.datetime,),
    "decimal": (decimal.Decimal, int, str),
    "bytes": (bytes,),
}


def _key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_SCHEMAS: dict[type, ir.Schema] = {}


def schema_of(cls: type[Columns]) -> ir.Schema:
    """The schema a ``Columns`` subclass declares; raises :class:`UnsupportedType` saying why not."""
    known = _SCHEMAS.get(cls)
    if known is None:
        known = _SCHEMAS[cls] = _schema_of(cls)
    return known


def _schema_of(cls: type[Columns]) -> ir.Schema:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise UnsupportedType(f"{cls.__qualname__}: cannot resolve its column annotations ({exc})") from exc
    columns = []
    for name, ann in hints.items():
        if typing.get_origin(ann) is typing.ClassVar:
            continue
        try:
            columns.append(_column(name, ann))
        except UnsupportedType as exc:
            raise UnsupportedType(f'{cls.__qualname__}: column "{name}": {exc}') from None
    return ir.Schema(_key(cls), tuple(columns))


def _column(name: str, ann: Any) -> ir.Column:
    checks: list[Check] = []
    nullable = False
    tp = ann
    for _ in range(3):  # Annotated[Optional[T], ...] or Optional[Annotated[T, ...]]
        if typing.get_origin(tp) is Annotated:
            checks += [m for m in tp.__metadata__ if isinstance(m, Check)]
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) != 1 or nullable:
                raise UnsupportedType(f"{_show(tp)} is not a column type: a column has one type, or is Optional")
            nullable, tp = True, rest[0]
        else:
            break
    kind = COLUMN_TYPES.get(tp) if isinstance(tp, type) else None
    if kind is None:
        raise UnsupportedType(
            f"{_show(tp)} is not a column type (bool, int, float, str, date, datetime, Decimal, bytes, "
            "or Optional of one, optionally Annotated with Check)"
        )
    return ir.Column(name, kind, nullable, tuple(_check(c, kind) for c in checks))


def _check(c: Check, kind: str) -> ir.ColumnCheck:
    bounds = {k: getattr(c, k) for k in ("ge", "gt", "le", "lt") if getattr(c, k) is not None}
    if bounds and kind in ("bool", "bytes"):
        raise UnsupportedType(f"Check({', '.join(bounds)}=...): a {SHOWN[kind]} column has no order")
    out = {k: _value(v, kind, f"Check({k}=...)") for k, v in bounds.items()}
    isin = None if c.isin is None else tuple(_value(v, kind, "Check(isin=...)") for v in c.isin)
    return ir.ColumnCheck(isin=isin, unique=bool(c.unique), **out)


def _value(v: Any, kind: str, where: str) -> Any:
    """A bound or allowed value as typed JSON of the column's type."""
    allowed = _VALUE_TYPES[kind]
    ok = isinstance(v, allowed) and not (isinstance(v, bool) and kind != "bool")
    if kind == "date" and isinstance(v, dt.datetime):
        ok = False  # a datetime is a date subclass, but not a date value
    if not ok:
        raise UnsupportedType(f"{where}: {v!r} is not a {SHOWN[kind]} value")
    if kind == "float":
        if not math.isfinite(v):
            raise UnsupportedType(f"{where}: {v!r} is not a finite float")
        return float(v)
    if kind in ("date", "datetime"):
        return str(v.isoformat())
    if kind == "decimal":
        try:
            d = decimal.Decimal(v)
        except decimal.InvalidOperation:
            raise UnsupportedType(f"{where}: {v!r} is not a Decimal") from None
        if not d.is_finite():
            raise UnsupportedType(f"{where}: {v!r} is not a finite Decimal")
        return str(d)
    if kind == "bytes":
        return base64.b64encode(v).decode("ascii")
    return v


def _show(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def show_column(c: ir.Column) -> str:
    """The column's type as a user writes it: ``float``, ``Decimal | None``."""
    return SHOWN[c.type] + (" | None" if c.nullable else "")


@cache
def schema_digest(schema: ir.Schema) -> str:
    """``sha256:`` of the canonical JSON of the schema's columns sorted by name: what the schema
    requires, whatever the class is called and whatever order the columns are declared in."""
    columns = sorted(converter.unstructure(schema)["columns"], key=lambda c: c["name"])
    return str(digest({"columns": columns}))


def short_name(schema: ir.Schema) -> str:
    return schema.name.rpartition(":")[2]


@cache
def lineage_columns(schema: ir.Schema) -> tuple[tuple[tuple[str, str], ...], str]:
    """What a lineage record keeps of a table file's schema: (name, type) of each column, and the
    schema's digest."""
    return tuple((c.name, show_column(c)) for c in schema.columns), schema_digest(schema)
