"""The data of a table file against its column schema: names, types, nulls and value constraints.

* Parquet: from the footer (the Arrow schema, and each row group's null counts and min/max
  statistics), without reading the data. Only a ``Check(isin=...)`` or ``Check(unique=True)``, a
  range the statistics cannot prove, or a column whose null count the footer lacks, reads the
  column concerned, and only that column.
* CSV/TSV: the header, then (``rows=True``) every row, parsed by pyarrow with the declared column
  types. An empty field is null (a quoted empty field, ``""``, is an empty string). Booleans are
  true/false/1/0, dates and datetimes ISO-8601 (a datetime column has a UTC offset in every row or
  in none), Decimal columns decimal text, bytes columns base64.
* JSONL: every row is a JSON object, each key once; a missing key or ``null`` is null; ints are 64-bit (as in
  Arrow and a CSV column); dates and datetimes are
  ISO-8601 strings (a datetime column has a UTC offset in every row or in none), Decimals strings
  or numbers, bytes base64 strings.

A violation raises :class:`~typedflow.tables.SchemaError` naming the column, what was expected and
what was found, and the first offending row (rows count from 1, the header not included). pyarrow is
imported on first use.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from typedflow import ir
from typedflow.tables.columns import SchemaError
from typedflow.tables.schema import show_column

TABLE_FORMATS = {
    "typedflow.formats:Parquet": "parquet",
    "typedflow.formats:CSV": "csv",
    "typedflow.formats:TSV": "tsv",
    "typedflow.formats:JSONL": "jsonl",
}
"""The built-in table formats (and so what a user subclass of one is read as)."""

_DECIMAL_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_BASE64_TEXT = r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_ZONED = re.compile(r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$")
_SHOW_NAMES = 20
_T = TypeVar("_T")


def table_kind(t: ir.TypeRef) -> str | None:
    """``parquet``, ``csv``, ``tsv`` or ``jsonl`` for a file type of a table format, else None."""
    for name in t.lineage or (t.name,):
        kind = TABLE_FORMATS.get(name)
        if kind is not None:
            return kind
    return None


def require_pyarrow(what: str) -> None:
    """Raise a :class:`SchemaError` saying how to install pyarrow when it is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SchemaError(f"{what} needs pyarrow: pip install 'typedflow[tables]'") from None


def check_file(path: Path, kind: str, schema: ir.Schema, *, rows: bool = True) -> None:
    """Check one file; ``rows=False`` checks a CSV/TSV header (a JSONL file's first row) only."""
    if kind != "jsonl":
        require_pyarrow(f"checking a {kind} table against its column schema")
    try:
        if kind == "parquet":
            _parquet(path, schema)
        elif kind in ("csv", "tsv"):
            _csv(path, schema, "\t" if kind == "tsv" else ",", rows)
        elif kind == "jsonl":
            for _ in iter_jsonl(path, schema, limit=None if rows else 1):
                pass
        else:
            raise SchemaError(f"no check for files of the {kind!r} format")
    except SchemaError:
        raise
    except OSError as exc:
        raise SchemaError(f"cannot read {path}: {exc}") from exc
    except Exception as exc:  # pyarrow's own errors: an unreadable or corrupt file
        raise SchemaError(f"cannot read {path} as {kind}: {exc}") from exc


# ----------------------------------------------------------------------------- typed values


def py_value(c: ir.Column, v: Any) -> Any:
    """A bound or allowed value (typed JSON of the column's type) as a Python value."""
    if c.type == "date":
        return dt.date.fromisoformat(v)
    if c.type == "datetime":
        return dt.datetime.fromisoformat(v)
    if c.type == "decimal":
        return decimal.Decimal(v)
    if c.type == "bytes":
        return base64.b64decode(v)
    return v


def _show_check(name: str, v: Any) -> str:
    return f"Check({name}={v!r})"


def _missing(schema: ir.Schema, names: list[str], c: ir.Column) -> SchemaError:
    shown = ", ".join(names[:_SHOW_NAMES]) + (", ..." if len(names) > _SHOW_NAMES else "")
    return SchemaError(f'missing column "{c.name}" ({show_column(c)}); the file has: {shown or "no columns"}')


def _duplicate(c: ir.Column) -> SchemaError:
    return SchemaError(f'column "{c.name}" appears more than once in the file')


# ----------------------------------------------------------------------------- Arrow columns


_FAMILIES: dict[Any, str | None] = {}


def arrow_family(t: Any) -> str | None:
    """The column type an Arrow type is (any width, any unit or time zone, dictionary-encoded or not)."""
    known = _FAMILIES.get(t, False)
    if known is not False:
        return known  # type: ignore[return-value]
    import pyarrow as pa

    v = t.value_type if pa.types.is_dictionary(t) else t
    tests: tuple[tuple[str, Callable[[Any], bool]], ...] = (
        ("bool", pa.types.is_boolean),
        ("int", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("str", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x) or pa.types.is_string_view(x)),
        ("date", pa.types.is_date),
        ("datetime", pa.types.is_timestamp),
        ("decimal", pa.types.is_decimal),
        (
            "bytes",
            lambda x: (
                pa.types.is_binary(x)
                or pa.types.is_large_binary(x)
                or pa.types.is_fixed_size_binary(x)
                or pa.types.is_binary_view(x)
            ),
        ),
    )
    family = next((name for name, test in tests if test(v)), None)
    if len(_FAMILIES) < 1024:
        _FAMILIES[t] = family
    return family


def check_arrow_type(c: ir.Column, t: Any, rows: int = 0) -> None:
    import pyarrow as pa

    if pa.types.is_null(t):  # no value but nulls, so no type was recorded
        if not c.nullable and rows:
            raise SchemaError(f'column "{c.name}": null at row 1, but the column is not Optional')
        return
    if arrow_family(t) != c.type:
        raise SchemaError(f'column "{c.name}": expected {show_column(c)}, got {t}')


def _first(mask: Any) -> int:
    """Index of the first true value of a boolean array (nulls are false), or -1."""
    import pyarrow.compute as pc

    found: int = pc.index(pc.fill_null(mask, False), True).as_py()
    return found


def _scalar(c: ir.Column, v: Any, arrow_type: Any) -> Any:
    """A bound as an Arrow scalar comparable with a column of ``arrow_type``."""
    import pyarrow as pa

    value = py_value(c, v)
    if c.type == "datetime":
        # In the column's time zone (Arrow compares only equal zones), at a unit that holds both.
        tz = getattr(arrow_type, "tz", None)
        unit = "ns" if getattr(arrow_type, "unit", None) == "ns" else "us"
        return pa.scalar(in_zone(value, tz is not None), type=pa.timestamp(unit, tz))
    return pa.scalar(value)


def _key(v: Any) -> tuple[Any, str]:
    """An Arrow scalar as a Python value to compare, and as a message shows it: a nanosecond
    timestamp as its text (a Python datetime has no nanoseconds; pandas is not required)."""
    import pyarrow as pa

    if pa.types.is_timestamp(v.type) and v.type.unit == "ns":
        return v.value, str(v.cast(pa.string()).as_py())
    py = v.as_py()
    return nan_key(py), repr(py)


class _NaN:
    """What every NaN is as a key: a NaN equals no value, itself included."""

    def __repr__(self) -> str:
        return "nan"


NAN = _NaN()


def nan_key(v: Any) -> Any:
    """``v``, or :data:`NAN` for a NaN (of any sign and payload): for ``Check(unique=True)`` every
    NaN is one value, as in pandas' ``duplicated()``."""
    return NAN if isinstance(v, float) and v != v else v


def _shown(v: Any) -> str:
    return _key(v)[1]


def in_zone(value: dt.datetime, zoned: bool) -> dt.datetime:
    """A datetime bound as comparable with a zoned or a naive column: naive values are UTC."""
    if zoned and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if not zoned and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


_BREAKS = {"ge": "less", "gt": "less_equal", "le": "greater", "lt": "greater_equal"}


class Unique:
    """A uniqueness check across the batches of one column."""

    def __init__(self, c: ir.Column) -> None:
        self.column = c
        self.chunks: list[Any] = []

    def add(self, arr: Any) -> None:
        import pyarrow as pa

        # By chunk: a chunked array of no chunks (an empty column) would make a column of no type.
        self.chunks.extend(arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr])

    def finish(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.chunks:
            return
        types = {chunk.type for chunk in self.chunks}
        if len(types) > 1:  # CSV decimal text: each batch at the scale its values need
            common = _common_decimal(types)
            self.chunks = [pc.cast(chunk, common) for chunk in self.chunks]
        arr = pa.chunked_array(self.chunks)
        if pc.count_distinct(arr, mode="only_valid").as_py() == len(arr) - arr.null_count:
            return
        counts = pc.value_counts(arr.drop_null())
        dups = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
        seen: dict[Any, int] = {}
        for i in pc.indices_nonzero(pc.fill_null(pc.is_in(arr, value_set=dups), False)).to_pylist():
            v, shown = _key(arr[i])
            if v in seen:
                raise SchemaError(
                    f'column "{self.column.name}": {shown} at row {i + 1} already appears at row {seen[v] + 1} '
                    "(Check(unique=True))"
                )
            seen[v] = i


def _computable(arr: Any) -> Any:
    """The values in a type Arrow's kernels (min/max, comparisons, is_in, hashing) all take:
    dictionaries decoded, views, half floats and 32/64-bit decimals widened."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_dictionary(t):
        return _computable(pc.cast(arr, t.value_type))
    if pa.types.is_string_view(t):
        return pc.cast(arr, pa.large_string())
    if pa.types.is_binary_view(t):
        return pc.cast(arr, pa.large_binary())
    if pa.types.is_float16(t):
        return pc.cast(arr, pa.float32())
    if getattr(pa.types, "is_decimal32", _no)(t) or getattr(pa.types, "is_decimal64", _no)(t):
        return pc.cast(arr, pa.decimal128(t.precision, t.scale))
    return arr


def _no(t: Any) -> bool:
    return False


def check_array(c: ir.Column, arr: Any, offset: int = 0, unique: Unique | None = None) -> None:
    """Nulls and value constraints of one column's values (an Arrow array of the right family);
    ``offset``: the row number of its first value, less one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _computable(arr)
    if pa.types.is_floating(arr.type) and any(chk.isin is not None or chk.unique for chk in c.checks):
        # -0.0 == 0.0, but Arrow's hashing (is_in, distinct counts) tells them apart: -0.0 + 0.0 is 0.0.
        arr = pc.add(arr, pa.scalar(0.0, arr.type))
        if arr.null_count < len(arr) and pc.any(pc.is_nan(arr)).as_py():
            # It hashes a NaN by its bits: each NaN as one NaN, so that every NaN is one value.
            arr = pc.if_else(pc.is_nan(arr), pa.scalar(math.nan, arr.type), arr)
    if not c.nullable and arr.null_count:
        i = _first(pc.is_null(arr))
        raise SchemaError(f'column "{c.name}": null at row {offset + i + 1}, but the column is not Optional')
    within = _within_bounds(c, arr)
    for chk in c.checks:
        for name, op in _BREAKS.items():
            bound = getattr(chk, name)
            if bound is None or within:
                continue
            i = _first(getattr(pc, op)(arr, _scalar(c, bound, arr.type)))
            if i >= 0:
                raise SchemaError(
                    f'column "{c.name}": {_shown(arr[i])} at row {offset + i + 1} breaks '
                    f"{_show_check(name, py_value(c, bound))}"
                )
        if chk.isin is not None:
            allowed = [py_value(c, v) for v in chk.isin]
            # An allowed Decimal the column's precision and scale cannot hold matches no value of it.
            held = [v for v in allowed if _holds(arr.type, v)] if c.type == "decimal" else allowed
            if c.type == "float":
                held = [v + 0.0 for v in held]  # -0.0 as 0.0, as the values are
            value_set = pa.array(held, type=arr.type)
            i = _first(pc.and_(pc.invert(pc.is_in(arr, value_set=value_set)), pc.is_valid(arr)))
            if i >= 0:
                raise SchemaError(
                    f'column "{c.name}": {_shown(arr[i])} at row {offset + i + 1} is not one of {allowed!r} '
                    "(Check(isin=...))"
                )
        if chk.unique and unique is not None:
            unique.add(arr)


def _digits(v: decimal.Decimal) -> tuple[int, int]:
    """(integer digits, decimal places) a finite Decimal needs, trailing zeros aside."""
    _, digits, exp = v.as_tuple()
    assert isinstance(exp, int)
    n = len(digits)
    while n > 0 and exp < 0 and digits[n - 1] == 0:
        n, exp = n - 1, exp + 1
    if not any(digits[:n]):
        return 0, 0
    return max(n + exp, 0), max(-exp, 0)


def _holds(t: Any, v: decimal.Decimal) -> bool:
    """Whether a decimal type of that precision and scale can hold ``v`` exactly."""
    whole, places = _digits(v)
    return bool(places <= t.scale and whole <= t.precision - t.scale)


def _decimal_type(whole: int, places: int) -> Any:
    import pyarrow as pa

    precision = max(whole + places, 1)
    if precision > 76:
        raise SchemaError(
            f"its values need {precision} digits at one scale ({whole} before the point, {places} after): "
            "a column is one Arrow decimal, of at most 76"
        )
    return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, places)


def _common_decimal(types: set[Any]) -> Any:
    return _decimal_type(max(t.precision - t.scale for t in types), max(t.scale for t in types))


def decimal_array(c: ir.Column, arr: Any) -> Any:
    """Decimal text (already checked as such) as decimal values, at the precision and scale it needs."""
    import pyarrow.compute as pc

    whole, places = 1, 0
    for v in pc.unique(arr).to_pylist():
        if v is not None:
            w, p = _digits(decimal.Decimal(v))
            whole, places = max(whole, w), max(places, p)
    try:
        return pc.cast(arr, _decimal_type(whole, places))
    except SchemaError as exc:
        raise SchemaError(f'column "{c.name}": {exc}') from None


def _within_bounds(c: ir.Column, arr: Any) -> bool:
    """Whether the column's smallest and largest values (one pass) respect every bound; when they do
    not, or cannot be compared, the bounds are checked value by value to find the row."""
    limits = [(name, getattr(chk, name)) for chk in c.checks for name in _BREAKS if getattr(chk, name) is not None]
    if not limits or len(arr) == arr.null_count:
        return True
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(arr.type) and arr.type.unit == "ns":
        return False  # no Python datetime holds its nanoseconds: compared as Arrow values
    mm = pc.min_max(arr)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    try:
        for name, v in limits:
            b = py_value(c, v)
            if not {"ge": lo >= b, "gt": lo > b, "le": hi <= b, "lt": hi < b}[name]:
                return False
    except TypeError:  # e.g. a zoned column and a naive bound: compared as Arrow values instead
        return False
    return True


# ----------------------------------------------------------------------------- Parquet


def _parquet(path: Path, schema: ir.Schema) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)  # the footer, and nothing else
    arrow = meta.schema.to_arrow_schema()
    names = list(arrow.names)
    index: dict[str, int] = {}
    for i, n in enumerate(names):
        index[n] = -1 if n in index else i  # -1: the name appears twice
    pending: list[_FromFooter] = []  # what the footer's statistics must show
    for c in schema.columns:
        found = index.get(c.name)
        if found is None:
            raise _missing(schema, names, c)
        if found < 0:
            raise _duplicate(c)
        field = arrow.field(found)
        check_arrow_type(c, field.type, meta.num_rows)
        if pa.types.is_null(field.type):
            continue  # nulls only, and the column may hold them
        needs_nulls = not c.nullable and field.nullable
        if needs_nulls or c.checks:
            pending.append(_FromFooter(c, field.type, needs_nulls))
    if not pending:
        return
    if meta.num_columns == len(names):  # no nested columns: leaf j is field j
        for f in pending:
            f.leaf = index[f.column.name]
    else:
        # A top-level leaf's path is its name; a nested one's is longer ("a.b" for field b of a
        # struct a, which a flat column may also be called): only top-level leaves are columns.
        columns = (meta.schema.column(j) for j in range(meta.num_columns))
        leaves = {col.path: j for j, col in enumerate(columns) if col.path == col.name}
        for f in pending:
            f.leaf = leaves.get(f.column.name)
    for f in pending:
        if f.leaf is None and f.null_groups is not None:  # no statistics to look at: read every row group
            f.null_groups = list(range(meta.num_row_groups))
    looked = [f for f in pending if f.leaf is not None and (f.null_groups is not None or f.bounds)]
    # One pass over the row groups' statistics; a column they cannot vouch for is read, alone.
    for g in range(meta.num_row_groups) if looked else ():
        rg = meta.row_group(g)
        for f in looked:
            f.look(g, rg.column(f.leaf).statistics)
    unread = [f for f in pending if f.null_groups or f.needs_values()]
    if not unread:
        return
    with pq.ParquetFile(path) as pf:
        for f in unread:
            f.read(pf, meta)


class _FromFooter:
    """One column's nulls and bounds, as far as the row groups' statistics show them."""

    def __init__(self, c: ir.Column, arrow_type: Any, needs_nulls: bool) -> None:
        self.column = c
        self.leaf: int | None = None
        # Row groups whose statistics do not rule out a null (None: nulls are allowed).
        self.null_groups: list[int] | None = [] if needs_nulls else None
        # isin and uniqueness need the values; string statistics may be truncated.
        self.reads = any(chk.isin is not None or chk.unique for chk in c.checks)
        limits = [(name, getattr(chk, name)) for chk in c.checks for name in _BREAKS if getattr(chk, name) is not None]
        self.raw = _raw_bound(c, arrow_type)
        # The tightest bounds, as (value, strict): every row group's min must lie above ``low``, its max below ``high``.
        self.low: tuple[Any, bool] | None = None
        self.high: tuple[Any, bool] | None = None
        self.bounds = bool(limits) and not self.reads and c.type not in ("str", "bytes")
        try:
            for name, v in limits if self.bounds else ():
                b = self.raw(py_value(c, v)) if self.raw else py_value(c, v)
                if name in ("ge", "gt"):
                    if self.low is None or b > self.low[0] or (b == self.low[0] and name == "gt"):
                        self.low = (b, name == "gt")
                elif self.high is None or b < self.high[0] or (b == self.high[0] and name == "lt"):
                    self.high = (b, name == "lt")
        except TypeError:
            self.bounds = False

    def look(self, g: int, st: Any) -> None:
        if self.null_groups is not None and (st is None or not st.has_null_count or st.null_count):
            self.null_groups.append(g)
        if not self.bounds:
            return
        if st is None or not st.has_min_max:
            self.bounds = False
            return
        try:
            low, high = self.low, self.high
            if low is not None:
                lo = st.min_raw if self.raw else st.min
                if lo < low[0] or (low[1] and lo == low[0]):
                    self.bounds = False
            if high is not None:
                hi = st.max_raw if self.raw else st.max
                if hi > high[0] or (high[1] and hi == high[0]):
                    self.bounds = False
        except (TypeError, ValueError):  # not comparable, or no Python value: the column is read
            self.bounds = False

    def needs_values(self) -> bool:
        """Whether the constraints need the column's values (the statistics could not prove them)."""
        return bool(self.column.checks) and (not self.bounds or self.reads or self.leaf is None)

    def read(self, pf: Any, meta: Any) -> None:
        c = self.column
        if self.null_groups:
            offsets = [0]
            for g in range(meta.num_row_groups):
                offsets.append(offsets[-1] + meta.row_group(g).num_rows)
            for g in self.null_groups:
                group = pf.read_row_group(g, columns=[c.name])
                check_array(ir.Column(c.name, c.type), group.column(c.name), offsets[g])
        if self.needs_values():
            unique = Unique(c) if any(chk.unique for chk in c.checks) else None
            # By name: columns=["a.b"] also reads field b of a struct a.
            check_array(c, pf.read(columns=[c.name]).column(c.name), 0, unique)
            if unique is not None:
                unique.finish()


_EPOCH = dt.date(1970, 1, 1)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH_NAIVE.replace(tzinfo=dt.UTC)


def _raw_bound(c: ir.Column, arrow_type: Any) -> Callable[[Any], Any] | None:
    """How a bound compares with the statistics' raw (physical) values, where that is exact and
    cheaper than their Python conversion: signed ints, floats, dates (days since 1970), timestamps
    (ticks since 1970, which a Python datetime cannot hold in nanoseconds)."""
    import pyarrow as pa

    if c.type == "int" and pa.types.is_signed_integer(arrow_type):
        return int
    if c.type == "float" and pa.types.is_floating(arrow_type):
        return float
    if c.type == "date" and pa.types.is_date32(arrow_type):
        return lambda d: (d - _EPOCH).days
    if c.type == "datetime" and pa.types.is_timestamp(arrow_type):
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[arrow_type.unit]
        zoned = arrow_type.tz is not None

        def ticks(d: dt.datetime) -> Fraction:  # exact, whatever the unit: the bound may fall between ticks
            since = in_zone(d, zoned) - (_EPOCH_UTC if zoned else _EPOCH_NAIVE)
            us = (since.days * 86_400 + since.seconds) * 10**6 + since.microseconds
            return Fraction(us * per_second, 10**6)

        return ticks
    return None


# ----------------------------------------------------------------------------- CSV / TSV


def read_header(path: Path, delimiter: str, sample: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """The column names of a CSV/TSV file, and the first non-empty value of each column named in
    ``sample`` that has one (rows are read until each is found)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise SchemaError("the file is empty: expected a header row naming its columns")
        wanted = {n: header.index(n) for n in sample if n in header}
        found: dict[str, str] = {}
        for row in reader if wanted else ():
            for n, i in list(wanted.items()):
                if i < len(row) and row[i].strip():
                    found[n] = row[i].strip()
                    del wanted[n]
            if not wanted:
                break
    return header, found


def zone_sample(schema: ir.Schema) -> tuple[str, ...]:
    """The columns whose first value :func:`csv_types` needs: datetimes, zoned or naive by it."""
    return tuple(c.name for c in schema.columns if c.type == "datetime")


def csv_types(schema: ir.Schema, samples: dict[str, str]) -> dict[str, Any]:
    """The Arrow type each declared column is parsed as (Decimal and bytes columns as text); a
    datetime column has a time zone when its first value (``samples``) has a UTC offset."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    for c in schema.columns:
        if c.type == "datetime":
            out[c.name] = pa.timestamp("us", tz="UTC" if _ZONED.search(samples.get(c.name, "")) else None)
        else:
            out[c.name] = {
                "bool": pa.bool_(),
                "int": pa.int64(),
                "float": pa.float64(),
                "str": pa.string(),
                "date": pa.date32(),
                "decimal": pa.string(),
                "bytes": pa.string(),
            }[c.type]
    return out


def check_header(schema: ir.Schema, header: list[str]) -> None:
    for c in schema.columns:
        n = header.count(c.name)
        if n == 0:
            raise _missing(schema, header, c)
        if n > 1:
            raise _duplicate(c)


def csv_options(
    delimiter: str, types: dict[str, Any], include: list[str] | None, *, newlines: bool = False
) -> tuple[Any, Any]:
    """pyarrow's options; ``newlines``: quoted values may hold newlines (slower: see :func:`csv_retry`)."""
    import pyarrow.csv as pcsv

    parse = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines)
    convert = pcsv.ConvertOptions(
        column_types=types,
        include_columns=include or [],
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    return parse, convert


def check_text_column(c: ir.Column, arr: Any, offset: int) -> None:
    """What the CSV parser does not check itself: Decimal and bytes columns are read as text."""
    import pyarrow.compute as pc

    if c.type not in ("decimal", "bytes"):
        return
    pattern = _DECIMAL_TEXT if c.type == "decimal" else _BASE64_TEXT
    i = _first(pc.invert(pc.match_substring_regex(arr, pattern)))
    if i >= 0:
        what = "a decimal number" if c.type == "decimal" else "base64 text"
        raise SchemaError(
            f'column "{c.name}": expected {show_column(c)} ({what}), got {arr[i].as_py()!r} at row {offset + i + 1}'
        )


def _csv(path: Path, schema: ir.Schema, delimiter: str, rows: bool) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    header, samples = read_header(path, delimiter, zone_sample(schema) if rows else ())
    check_header(schema, header)
    if not rows or not schema.columns:
        return
    types = csv_types(schema, samples)

    def check_rows(newlines: bool) -> None:
        parse, convert = csv_options(delimiter, types, [c.name for c in schema.columns], newlines=newlines)
        offset = 0
        uniques = {c.name: Unique(c) for c in schema.columns if any(chk.unique for chk in c.checks)}
        with pcsv.open_csv(path, parse_options=parse, convert_options=convert) as reader:
            for batch in reader:
                for c in schema.columns:
                    arr = batch.column(c.name)
                    check_text_column(c, arr, offset)
                    check_array(c, _as_column_type(c, arr), offset, uniques.get(c.name))
                offset += batch.num_rows
        for u in uniques.values():
            u.finish()

    try:
        csv_retry(check_rows)
    except pa.ArrowInvalid as exc:
        raise locate_conversion_error(path, schema, delimiter, types, exc) from None


def csv_retry(read: Callable[[bool], _T]) -> _T:
    """``read(False)``, then, if pyarrow could not parse the file, ``read(True)``: pyarrow splits a
    file into blocks at newlines, so a quoted value holding one (write_table writes them so) can
    throw a block out of step (an error, never a wrong row). Allowing them everywhere would make
    every read slower; a file that has them is read twice."""
    import pyarrow as pa

    try:
        return read(False)
    except pa.ArrowInvalid:
        return read(True)


def _as_column_type(c: ir.Column, arr: Any) -> Any:
    """Decimal and base64 text as the values they stand for, for the constraints."""
    if not c.checks:
        return arr
    if c.type == "decimal":
        import pyarrow as pa
        import pyarrow.compute as pc

        try:  # the text of most decimals, exactly and without a Python value each (30 times faster)
            return pc.cast(arr, pa.decimal128(38, 9))
        except pa.ArrowInvalid:  # more places, or more digits
            return decimal_array(c, arr)
    return bytes_array(arr) if c.type == "bytes" else arr


def bytes_array(arr: Any) -> Any:
    """Base64 text (already checked as such) as the bytes it stands for."""
    import pyarrow as pa

    def decode(chunk: Any) -> Any:
        return pa.array([None if v is None else base64.b64decode(v) for v in chunk.to_pylist()], pa.binary())

    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([decode(chunk) for chunk in arr.chunks], pa.binary())
    return decode(arr)


def locate_conversion_error(
    path: Path, schema: ir.Schema, delimiter: str, types: dict[str, Any], exc: Exception
) -> SchemaError:
    """The first value pyarrow could not convert, found by reading the columns as text again."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    typed = {n: t for n, t in types.items() if not pa.types.is_string(t)}
    parse, convert = csv_options(delimiter, dict.fromkeys(typed, pa.string()), list(typed), newlines=True)
    by_name = {c.name: c for c in schema.columns}
    offset = 0
    try:
        with pcsv.open_csv(path, parse_options=parse, convert_options=convert) as reader:
            for batch in reader:
                worst: tuple[int, str, Any] | None = None
                for name, t in typed.items():
                    arr = batch.column(name)
                    i = _first_failing_cast(arr, t, pc)
                    if i >= 0 and (worst is None or i < worst[0]):
                        worst = (i, name, arr[i].as_py())
                if worst is not None:
                    i, name, value = worst
                    c = by_name[name]
                    note = ""
                    other = pa.timestamp("us", None if getattr(types[name], "tz", None) else "UTC")
                    if c.type == "datetime" and _first_failing_cast(pa.array([value]), other, pc) < 0:
                        note = " (a datetime column has a UTC offset in every row, or in none)"
                    return SchemaError(
                        f'column "{name}": expected {show_column(c)}, got {value!r} at row {offset + i + 1}{note}'
                    )
                offset += batch.num_rows
    except pa.ArrowInvalid:  # not the values: the rows themselves
        pass
    return ragged_row(path, delimiter) or SchemaError(f"cannot read the file with its declared column types: {exc}")


def ragged_row(path: Path, delimiter: str) -> SchemaError | None:
    """The first row with another number of fields than the header (pyarrow's error names its text)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        for n, row in enumerate((r for r in reader if r), 1):  # a blank line is no row, as for pyarrow
            if len(row) != len(header):
                return SchemaError(f"row {n} has {len(row)} fields, the header {len(header)}")
    return None


def _first_failing_cast(arr: Any, t: Any, pc: Any) -> int:
    import pyarrow as pa

    def ok(a: Any) -> bool:
        try:
            pc.cast(a, t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if ok(arr):
        return -1
    lo, hi = 0, len(arr)  # the first failure is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(arr.slice(lo, mid - lo)):
            lo = mid
        else:
            hi = mid
    return lo


# ----------------------------------------------------------------------------- JSONL


def _json_value(kind: str) -> Callable[[Any], Any]:
    """A function from a JSON value of a column to its Python value; raises ValueError if not one."""

    def fail(v: Any) -> Any:
        raise ValueError

    def of(*types: type) -> Callable[[Any], Any]:
        def conv(v: Any) -> Any:
            if type(v) not in types:
                raise ValueError
            return v

        return conv

    def date(v: Any) -> Any:
        if type(v) is not str or len(v) != 10:
            raise ValueError
        return dt.date.fromisoformat(v)

    def datetime(v: Any) -> Any:
        if type(v) is not str:
            raise ValueError
        return dt.datetime.fromisoformat(v)

    def dec(v: Any) -> Any:
        if type(v) not in (str, int, float):
            raise ValueError
        try:
            d = decimal.Decimal(str(v))
        except decimal.InvalidOperation:
            raise ValueError from None
        if not d.is_finite():
            raise ValueError
        return d

    def raw(v: Any) -> Any:
        if type(v) is not str:
            raise ValueError
        try:
            return base64.b64decode(v, validate=True)
        except binascii.Error:
            raise ValueError from None

    def real(v: Any) -> Any:  # a JSON number is a double: an integer is the nearest one
        if type(v) not in (int, float):
            raise ValueError
        try:
            return float(v)
        except OverflowError:
            raise ValueError from None

    def int64(v: Any) -> Any:
        if type(v) is not int or not -(2**63) <= v < 2**63:
            raise ValueError
        return v

    return {
        "bool": of(bool),
        "int": int64,
        "float": real,
        "str": of(str),
        "date": date,
        "datetime": datetime,
        "decimal": dec,
        "bytes": raw,
    }.get(kind, fail)


_JSON_NAMES = {bool: "a JSON boolean", int: "a JSON integer", float: "a JSON number", str: "a JSON string"}


def _json_shown(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, dict):
        return "a JSON object"
    if isinstance(v, list):
        return "a JSON array"
    return f"{_JSON_NAMES.get(type(v), type(v).__name__)} {json.dumps(v)[:60]}"


class _RowChecks:
    """The per-value checks of one column, for rows checked one at a time."""

    def __init__(self, c: ir.Column) -> None:
        self.column = c
        self.convert = _json_value(c.type)
        self.bounds = [
            (name, py_value(c, getattr(chk, name)))
            for chk in c.checks
            for name in ("ge", "gt", "le", "lt")
            if getattr(chk, name) is not None
        ]
        self.allowed = [[py_value(c, v) for v in chk.isin] for chk in c.checks if chk.isin is not None]
        self.seen: dict[Any, int] | None = {} if any(chk.unique for chk in c.checks) else None
        self.zoned: bool | None = None  # a datetime column: whether its first value has a UTC offset

    def value(self, v: Any, row: int) -> Any:
        c = self.column
        if v is None:
            if not c.nullable:
                raise SchemaError(f'column "{c.name}": null or missing at row {row}, but the column is not Optional')
            return None
        try:
            out = self.convert(v)
        except ValueError:
            what = " (a 64-bit integer)" if c.type == "int" and type(v) is int else ""
            raise SchemaError(
                f'column "{c.name}": expected {show_column(c)}{what}, got {_json_shown(v)} at row {row}'
            ) from None
        if c.type == "datetime" and self.zoned != (out.tzinfo is not None):
            if self.zoned is not None:
                raise SchemaError(
                    f'column "{c.name}": expected {show_column(c)}, got {_json_shown(v)} at row {row} '
                    "(a datetime column has a UTC offset in every row, or in none)"
                )
            # As the other formats do, compare with the bounds as UTC instants.
            self.zoned = out.tzinfo is not None
            self.bounds = [(name, in_zone(b, self.zoned)) for name, b in self.bounds]
            self.allowed = [[in_zone(a, self.zoned) for a in allowed] for allowed in self.allowed]
        for name, b in self.bounds if out == out else ():  # a NaN is not bounded, as in Arrow
            try:
                ok = {"ge": out >= b, "gt": out > b, "le": out <= b, "lt": out < b}[name]
            except TypeError:
                ok = False
            if not ok:
                raise SchemaError(f'column "{c.name}": {out!r} at row {row} breaks {_show_check(name, b)}')
        for allowed in self.allowed:
            if out not in allowed:
                raise SchemaError(
                    f'column "{c.name}": {out!r} at row {row} is not one of {allowed!r} (Check(isin=...))'
                )
        if self.seen is not None:
            first = self.seen.setdefault(nan_key(out), row)
            if first != row:
                raise SchemaError(
                    f'column "{c.name}": {out!r} at row {row} already appears at row {first} (Check(unique=True))'
                )
        return out


class _Pairs:
    """json's ``object_pairs_hook``: a dict, noting the last object that had a key more than once
    (the row itself is made last, after the objects inside it)."""

    def __init__(self) -> None:
        self.repeated: tuple[dict[str, Any], list[tuple[str, Any]]] | None = None

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            self.repeated = (obj, pairs)
        return obj


def _repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            return k
        seen.add(k)
    raise AssertionError("no key appears twice")


def json_rows(fh: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each line of a JSONL file that is not blank, by line number, as a JSON object of columns; a
    row with a key more than once is refused (json would keep its last value: which one did the
    file mean?)."""
    pairs = _Pairs()
    decode = json.JSONDecoder(object_pairs_hook=pairs).decode
    for row, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            obj = decode(line)
        except ValueError as exc:
            raise SchemaError(f"row {row} is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise SchemaError(f"row {row} is {_json_shown(obj)}, not a JSON object of columns")
        if pairs.repeated is not None:
            if pairs.repeated[0] is obj:
                raise SchemaError(f'row {row} has the key "{_repeated(pairs.repeated[1])}" more than once')
            pairs.repeated = None  # an object inside a value: read as it is
        yield row, obj


def iter_jsonl(path: Path, schema: ir.Schema, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Each row of a JSONL file, checked, with the declared columns as Python values (others as
    read); ``limit``: stop after that many rows. Blank lines are skipped; rows count lines."""
    checks = [_RowChecks(c) for c in schema.columns]
    n = 0
    with open(path, encoding="utf-8-sig") as fh:
        for row, obj in json_rows(fh):
            for chk in checks:
                name = chk.column.name
                obj[name] = chk.value(obj.get(name), row)
            yield obj
            n += 1
            if limit is not None and n >= limit:
                return
