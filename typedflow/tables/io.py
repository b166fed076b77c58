"""Reading and writing table files with their schema enforced (pyarrow; pandas where installed).

Behind :meth:`TypedFile.read_table() <typedflow.files.TypedFile.read_table>` and
:meth:`TypedFile.write_table() <typedflow.files.TypedFile.write_table>`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
import tempfile
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.formats import Format, format_lineage
from typedflow.tables.check import (
    TABLE_FORMATS,
    Unique,
    arrow_family,
    bytes_array,
    check_array,
    check_file,
    check_header,
    check_text_column,
    csv_options,
    csv_retry,
    csv_types,
    decimal_array,
    iter_jsonl,
    json_rows,
    locate_conversion_error,
    ragged_row,
    read_header,
    require_pyarrow,
    zone_sample,
)
from typedflow.tables.columns import Columns, SchemaError
from typedflow.tables.schema import schema_of, show_column

_BY_SUFFIX = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}


def kind_of(fmt: type[Format], path: Path) -> str:
    """The table format a file is read and written as: its format's, else its suffix's."""
    for key in format_lineage(fmt):
        if key in TABLE_FORMATS:
            return TABLE_FORMATS[key]
    kind = _BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        raise SchemaError(
            f"{path.name}: not a table format ({fmt.__qualname__}); declare TypedFile[Parquet], CSV, TSV or JSONL, "
            "or use one of their suffixes"
        )
    return kind


def _schema(fmt: type[Format], columns: type[Columns] | None) -> ir.Schema | None:
    cls = columns if columns is not None else fmt.columns
    return None if cls is None else schema_of(cls)


# ----------------------------------------------------------------------------- read


def read_table(
    path: Path, fmt: type[Format], *, columns: type[Columns] | None = None, pandas: bool = False, shown: str = ""
) -> Any:
    """The file as a ``pyarrow.Table`` (``pandas=True``: a ``pandas.DataFrame``), every row checked
    against the schema (``columns``, else the format's); other columns are read as they are.
    ``shown``: how errors name the file (default: its path)."""
    kind = kind_of(fmt, path)
    schema = _schema(fmt, columns)
    require_pyarrow("read_table")
    import pyarrow as pa

    try:
        if kind == "parquet":
            table = _read_parquet(path, schema)
        elif kind in ("csv", "tsv"):
            table = _read_csv(path, schema, "\t" if kind == "tsv" else ",")
        else:
            table = _read_jsonl(path, schema)
    except SchemaError as exc:
        raise SchemaError(f"{shown or path}: {exc}") from None
    except (OSError, ValueError, pa.ArrowException) as exc:  # corrupt, not UTF-8, not JSON; pyarrow's errors
        raise SchemaError(f"{shown or path}: cannot read it as {kind}: {exc}") from None
    if pandas:
        _need_pandas()
        return table.to_pandas()
    return table


def _need_pandas() -> None:
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise ImportError("pandas is not installed: pip install pandas, or read a pyarrow.Table") from None


def _read_parquet(path: Path, schema: ir.Schema | None) -> Any:
    import pyarrow.parquet as pq

    if schema is not None:
        check_file(path, "parquet", schema)
    return pq.read_table(path)


def _read_csv(path: Path, schema: ir.Schema | None, delimiter: str) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    header, samples = read_header(path, delimiter, () if schema is None else zone_sample(schema))
    types: dict[str, Any] = {}
    if schema is not None:
        check_header(schema, header)
        types = csv_types(schema, samples)

    def read(newlines: bool) -> Any:
        parse, convert = csv_options(delimiter, types, None, newlines=newlines)
        return pcsv.read_csv(path, parse_options=parse, convert_options=convert)

    try:
        table = csv_retry(read)
    except pa.ArrowInvalid as exc:
        if schema is None:
            raise ragged_row(path, delimiter) or SchemaError(f"cannot read it as CSV: {exc}") from None
        raise locate_conversion_error(path, schema, delimiter, types, exc) from None
    if schema is None:
        return table
    for c in schema.columns:
        i = table.schema.get_field_index(c.name)
        arr = table.column(i)
        check_text_column(c, arr, 0)
        typed = decimal_array(c, arr) if c.type == "decimal" else bytes_array(arr) if c.type == "bytes" else arr
        unique = Unique(c) if any(chk.unique for chk in c.checks) else None
        check_array(c, typed, 0, unique)
        if unique is not None:
            unique.finish()
        if typed is not arr:
            table = table.set_column(i, c.name, typed)
    return table


def _read_jsonl(path: Path, schema: ir.Schema | None) -> Any:
    """Every key of every row is a column (a row without it: null). A declared column has its
    declared type; another key whose values Arrow cannot give one type (an object in one row, a
    string in another) is read as JSON text."""
    import pyarrow as pa

    if schema is None:
        with open(path, encoding="utf-8-sig") as fh:
            rows = [obj for _, obj in json_rows(fh)]
    else:
        rows = list(iter_jsonl(path, schema))
    declared = {c.name: c for c in schema.columns} if schema is not None else {}
    names = dict.fromkeys([*(k for r in rows for k in r), *declared])
    columns = {}
    for name in names:
        values = [r.get(name) for r in rows]
        c = declared.get(name)
        columns[name] = _as_declared(c, values) if c is not None else _as_read(values)
    return pa.table(columns)


def _as_declared(c: ir.Column, values: list[Any]) -> Any:
    """A declared column's checked values, as its Arrow type where they do not say (all null)."""
    import pyarrow as pa

    arr = pa.array(values)
    return arr if arrow_family(arr.type) == c.type else arr.cast(_arrow_type(c))


def _as_read(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())


def _arrow_type(c: ir.Column) -> Any:
    import pyarrow as pa

    return {
        "bool": pa.bool_(),
        "int": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
        "decimal": pa.decimal128(38, 9),
        "bytes": pa.binary(),
    }[c.type]


# ----------------------------------------------------------------------------- write


def write_table(
    path: Path, fmt: type[Format], data: Any, *, columns: type[Columns] | None = None, shown: str = ""
) -> None:
    """Write ``data`` (a ``pyarrow.Table``, a ``pandas.DataFrame``, a list of row dicts or a dict of
    columns) to ``path`` in the file's table format, checked against the schema first. Declared
    float columns given as integers, and declared columns that are all null, are converted."""
    kind = kind_of(fmt, path)
    schema = _schema(fmt, columns)
    require_pyarrow("write_table")
    import pyarrow as pa

    try:
        table = to_arrow(data)
    except (ValueError, OverflowError, pa.ArrowException) as exc:  # e.g. mixed types, an int beyond int64
        raise SchemaError(f"{shown or path}: cannot make a table of the data: {exc}") from None
    try:
        one_kind_of_datetime(data, table)
    except SchemaError as exc:
        raise SchemaError(f"{shown or path}: {exc}") from None
    if schema is not None:
        if table.num_columns == 0 and table.num_rows == 0:  # no rows (an empty list): no columns either
            table = pa.schema([(c.name, _arrow_type(c)) for c in schema.columns]).empty_table()
        try:
            table = conform(table, schema)
        except SchemaError as exc:
            raise SchemaError(f"{shown or path}: {exc}") from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif kind in ("csv", "tsv"):
            _write_csv(table, Path(tmp), "\t" if kind == "tsv" else ",")
        else:
            _write_jsonl(table, Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def one_kind_of_datetime(data: Any, table: Any) -> None:
    """Refuse a column of Python datetimes (``data``, made ``table``) with a UTC offset in some rows and
    none in others, as the CSV and JSONL checks do: Arrow made them one kind, reading a naive one as UTC."""
    import pyarrow as pa

    for name in {f.name for f in table.schema if pa.types.is_timestamp(f.type)}:
        if isinstance(data, list):
            values: Any = map(methodcaller("get", name), data)
        elif isinstance(data, dict) or type(data).__module__.partition(".")[0] == "pandas":
            values = data[name]
            # Python objects: a list, or a numpy or pandas column of them (datetime64 is one kind already).
            if not isinstance(values, list | tuple) and getattr(getattr(values, "dtype", None), "kind", "") != "O":
                continue
        else:
            return  # Arrow data: one kind already
        try:  # the time zones, fast (nulls left out): one kind unless naive and zoned values are both there
            zones = set(map(attrgetter("tzinfo"), filter(None, values)))
            if None not in zones or len(zones) == 1:
                continue
        except AttributeError:  # not all datetimes: found below
            pass
        _mixed_zones(name, list(map(methodcaller("get", name), data) if isinstance(data, list) else values))


def _mixed_zones(name: str, values: list[Any]) -> None:
    # Any datetime but pandas' NaT (a datetime, and no value: it equals nothing).
    kinds = [(v.tzinfo is not None, i) for i, v in enumerate(values) if isinstance(v, dt.datetime) and v == v]
    zoned, first = kinds[0] if kinds else (False, 0)
    other = next(((z, i) for z, i in kinds if z != zoned), None)
    if other is not None:
        z, i = other
        raise SchemaError(
            f'column "{name}": {values[i].isoformat()} at row {i + 1} has {"a" if z else "no"} UTC offset, the one '
            f"at row {first + 1} {'none' if z else 'one'} (a datetime column has a UTC offset in every row, or in none)"
        )


def to_arrow(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.partition(".")[0] == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    if isinstance(data, dict):
        return pa.table(data)
    raise TypeError(
        f"write_table takes a pyarrow.Table, a pandas.DataFrame, a list of row dicts or a dict of columns, "
        f"got {type(data).__name__}"
    )


def conform(table: Any, schema: ir.Schema) -> Any:
    """``table`` with its declared columns checked (and converted where that loses nothing)."""
    import pyarrow as pa

    names = table.column_names
    for c in schema.columns:
        found = [i for i, n in enumerate(names) if n == c.name]
        if not found:
            raise SchemaError(f'missing column "{c.name}" ({show_column(c)}); the table has: {", ".join(names)}')
        if len(found) > 1:
            raise SchemaError(f'column "{c.name}" appears more than once')
        i = found[0]
        arr = table.column(i)
        family = arrow_family(arr.type)
        if family != c.type:
            if pa.types.is_null(arr.type) or (c.type == "float" and family == "int"):
                try:
                    arr = arr.cast(_arrow_type(c))
                except pa.ArrowInvalid as exc:  # an int beyond 2**53 has no exact float
                    raise SchemaError(f'column "{c.name}": expected {show_column(c)}, got {arr.type} ({exc})') from None
                table = table.set_column(i, c.name, arr)
            else:
                raise SchemaError(f'column "{c.name}": expected {show_column(c)}, got {arr.type}')
        unique = Unique(c) if any(chk.unique for chk in c.checks) else None
        check_array(c, arr, 0, unique)
        if unique is not None:
            unique.finish()
    # A column without nulls is written as such (Parquet: "required"), so checking the file needs no
    # null counts from its statistics.
    required = {c.name for c in schema.columns if not c.nullable}
    fields = [f.with_nullable(False) if f.name in required else f for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _write_csv(table: Any, path: Path, delimiter: str) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    for i, field in enumerate(table.schema):
        if arrow_family(field.type) == "bytes":  # text formats carry bytes as base64
            values = [None if v is None else base64.b64encode(v).decode("ascii") for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(values, pa.string()))
    pcsv.write_csv(table, path, write_options=pcsv.WriteOptions(delimiter=delimiter))


def _json_default(v: Any) -> Any:
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    raise TypeError(f"{type(v).__name__} has no JSON form")


def _write_jsonl(table: Any, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for batch in table.to_batches():
            for row in batch.to_pylist():
                try:
                    fh.write(json.dumps(row, default=_json_default, allow_nan=False, ensure_ascii=False))
                except (ValueError, TypeError) as exc:
                    raise SchemaError(f"a row cannot be written as JSON: {exc} ({row!r:.200})") from None
                fh.write("\n")
