"""Edge cases of the checks on the data, each a way a file used to be judged wrongly (a good file
refused, a bad one accepted) or to fail with a traceback instead of a SchemaError."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedflow import TypedDirectory, ir
from typedflow.formats import CSV, JSONL, TSV, Parquet
from typedflow.ir.types import type_ref
from typedflow.tables import Check, Columns, SchemaError
from typedflow.tables.check import check_file
from typedflow.tables.enforce import violation
from typedflow.tables.io import read_table, write_table
from typedflow.tables.schema import schema_of

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FUNCTION_SCOPED = [HealthCheck.function_scoped_fixture]
# Any: FORMATS[kind][cls] makes a format class at run time, where mypy sees a types.GenericAlias.
FORMATS: dict[str, Any] = {"parquet": Parquet, "csv": CSV, "tsv": TSV, "jsonl": JSONL}


class Seen(Columns):
    id: int
    seen: dt.datetime | None


@settings(max_examples=20, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(st.lists(st.booleans(), min_size=1, max_size=6), st.booleans())
def test_csv_datetime_zone_is_taken_from_the_first_value_not_the_first_row(
    tmp_path: Path, present: list[bool], zoned: bool
) -> None:
    # Leading rows may be null: the column is zoned or naive by its first value.
    suffix = "+02:00" if zoned else ""
    lines = [f"{i},{f'2020-01-0{i + 1}T00:00:00{suffix}' if p else ''}" for i, p in enumerate(present)]
    path = tmp_path / "t.csv"
    path.write_text("id,seen\n" + "\n".join(lines) + "\n")
    check_file(path, "csv", schema_of(Seen))
    got = read_table(path, CSV[Seen]).column("seen").to_pylist()
    assert [v is not None for v in got] == present
    assert all((v.tzinfo is not None) == zoned for v in got if v is not None)
    # A naive value after a zoned one (or the reverse) is still refused, at its row.
    if sum(present) >= 2:
        second = [i for i, p in enumerate(present) if p][1]
        other = "" if zoned else "+02:00"
        lines[second] = f"{second},2020-01-09T00:00:00{other}"
        path.write_text("id,seen\n" + "\n".join(lines) + "\n")
        with pytest.raises(SchemaError, match=f"at row {second + 1} .*UTC offset in every row"):
            check_file(path, "csv", schema_of(Seen))


class Since(Columns):
    at: Annotated[dt.datetime, Check(ge=dt.datetime(2000, 1, 1))]  # naive: read as UTC


class SinceZoned(Columns):
    at: Annotated[dt.datetime, Check(ge=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))]


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("schema", [Since, SinceZoned])
def test_datetime_bounds_compare_zoned_and_naive_the_same_way_in_every_format(
    tmp_path: Path, kind: str, schema: type[Columns]
) -> None:
    # A naive bound on a zoned column (and the reverse) is a UTC instant, whatever the format.
    plus2 = dt.timezone(dt.timedelta(hours=2))
    minus2 = dt.timezone(dt.timedelta(hours=-2))
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind], [{"at": dt.datetime(1999, 12, 31, 23, tzinfo=minus2)}])  # 01:00 UTC
    check_file(path, kind, schema_of(schema))
    write_table(path, FORMATS[kind], [{"at": dt.datetime(2000, 1, 1, 1, tzinfo=plus2)}])  # 23:00 UTC the day before
    with pytest.raises(SchemaError, match=r'column "at": .* at row 1 breaks Check'):
        check_file(path, kind, schema_of(schema))
    write_table(path, FORMATS[kind], [{"at": dt.datetime(2000, 1, 1, 1)}])  # naive
    check_file(path, kind, schema_of(schema))


def test_jsonl_datetime_column_has_an_offset_in_every_row_or_in_none(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1, "seen": null}\n{"id": 2, "seen": "2020-01-01T00:00:00Z"}\n')
    check_file(path, "jsonl", schema_of(Seen))
    path.write_text(path.read_text() + '{"id": 3, "seen": "2020-01-01T00:00:00"}\n')
    with pytest.raises(SchemaError, match=r'column "seen": .* at row 3 \(a datetime column has a UTC offset in every'):
        check_file(path, "jsonl", schema_of(Seen))


class Priced(Columns):
    price: Annotated[Decimal, Check(isin=[Decimal("1.50"), Decimal("2.125"), Decimal("1000")])]


def test_parquet_decimal_isin_with_values_the_column_cannot_hold(tmp_path: Path) -> None:
    # decimal(5, 2) holds neither 2.125 nor 1000: those allowed values cannot match, but are no error.
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"price": pa.array([Decimal("1.50"), Decimal("1.5")], pa.decimal128(5, 2))}), path)
    check_file(path, "parquet", schema_of(Priced))
    pq.write_table(pa.table({"price": pa.array([Decimal("1.50"), Decimal("2.12")], pa.decimal128(5, 2))}), path)
    with pytest.raises(SchemaError, match=r"Decimal\('2.12'\) at row 2 is not one of"):
        check_file(path, "parquet", schema_of(Priced))


class Money(Columns):
    id: int
    amount: Annotated[Decimal, Check(ge=0)]


class Ref(Columns):
    id: int
    ref: Annotated[Decimal, Check(unique=True)]


DECIMAL_TEXT = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    # At most 70 digits at the finest scale: a column is one Arrow decimal, of at most 76 digits.
    lambda d: len(d.as_tuple().digits) <= 30 and -30 <= int(d.as_tuple().exponent) <= 10
)


@settings(max_examples=40, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(st.lists(DECIMAL_TEXT, min_size=1, max_size=6), st.sampled_from(["csv", "tsv"]))
def test_csv_decimal_checks_take_any_scale_and_precision(tmp_path: Path, values: list[Decimal], kind: str) -> None:
    # Bounds were compared after a cast to decimal(38, 9), which refused finer or larger values.
    sep = "\t" if kind == "tsv" else ","
    path = tmp_path / f"t.{kind}"
    path.write_text(f"id{sep}amount\n" + "".join(f"{i}{sep}{v}\n" for i, v in enumerate(values)))
    negative = [i for i, v in enumerate(values) if v < 0]
    if negative:
        with pytest.raises(SchemaError, match=f'column "amount": .* at row {negative[0] + 1} breaks Check'):
            check_file(path, kind, schema_of(Money))
    else:
        check_file(path, kind, schema_of(Money))
        assert read_table(path, FORMATS[kind][Money]).column("amount").to_pylist() == values
    # Uniqueness is of values, not of their text: 1.5 and 1.50 are the same Decimal.
    path.write_text(f"id{sep}ref\n" + "".join(f"{i}{sep}{v}\n" for i, v in enumerate(values)))
    first: dict[Decimal, int] = {}
    dup = next((i for i, v in enumerate(values) if first.setdefault(v, i) != i), None)
    if dup is None:
        check_file(path, kind, schema_of(Ref))
    else:
        with pytest.raises(SchemaError, match=f"at row {dup + 1} already appears at row {first[values[dup]] + 1}"):
            check_file(path, kind, schema_of(Ref))


def test_csv_decimal_uniqueness_across_batches_of_different_scales(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    # pyarrow reads a CSV in blocks of about 1 MB: the duplicate is in another batch, at another scale.
    rows = [f"{i},{i}.5" for i in range(100_000)] + ["100000,7.50000000000000000001", "100001,7.500"]
    path.write_text("id,ref\n" + "\n".join(rows) + "\n")
    with pytest.raises(SchemaError, match=r"Decimal\('7.500*'\) at row 100002 already appears at row 8 "):
        check_file(path, "csv", schema_of(Ref))


class Count(Columns):
    n: int


@settings(max_examples=30, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(st.integers(-(2**70), 2**70) | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1]))
def test_jsonl_int_columns_are_64_bit_like_the_other_formats(tmp_path: Path, n: int) -> None:
    # A larger JSON integer was accepted by the check, then read_table failed with OverflowError.
    path = tmp_path / "t.jsonl"
    path.write_text(f'{{"n": 1}}\n{{"n": {n}}}\n')
    if -(2**63) <= n < 2**63:
        check_file(path, "jsonl", schema_of(Count))
        assert read_table(path, JSONL[Count]).column("n").to_pylist() == [1, n]
    else:
        with pytest.raises(SchemaError, match=f'column "n": expected int .*got a JSON integer {n} at row 2'):
            check_file(path, "jsonl", schema_of(Count))
        with pytest.raises(SchemaError, match="at row 2"):
            read_table(path, JSONL[Count])


UNREADABLE = [
    ("t.parquet", b"PAR1 not parquet"),
    ("t.parquet", b""),
    ("t.csv", b"id,seen\n1,\xe9\n"),  # not UTF-8
    ("t.csv", b"id,seen\n1,,3\n"),  # more fields than the header
    ("t.jsonl", b'{"id": 1, "seen": "\xe9"}\n'),
    ("t.jsonl", b'{"id": 1,\n'),
]


@pytest.mark.parametrize(("name", "data"), UNREADABLE)
@pytest.mark.parametrize("typed", [True, False])
def test_read_table_of_an_unreadable_file_is_a_schema_error(
    tmp_path: Path, name: str, data: bytes, typed: bool
) -> None:
    # These raised pyarrow's, json's or the codec's own exceptions, with a traceback into them.
    path = tmp_path / name
    path.write_bytes(data)
    fmt = FORMATS[path.suffix[1:]]
    with pytest.raises(SchemaError, match=f"^{re.escape(str(path))}: "):
        read_table(path, fmt[Seen] if typed else fmt)


@pytest.mark.parametrize(
    "data",
    [
        [{"id": 2**70, "seen": None}],  # beyond int64
        [{"id": 1, "seen": None}, {"id": "two", "seen": None}],  # mixed types
        {"id": [1, 2], "seen": [None]},  # columns of different lengths
    ],
)
@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_write_table_of_data_arrow_cannot_hold_is_a_schema_error(tmp_path: Path, data: Any, kind: str) -> None:
    path = tmp_path / f"t.{kind}"
    with pytest.raises(SchemaError, match="cannot make a table of the data"):
        write_table(path, FORMATS[kind][Seen], data)
    assert list(tmp_path.iterdir()) == []


def test_write_table_jsonl_of_a_column_json_cannot_hold_is_a_schema_error(tmp_path: Path) -> None:
    table = pa.table({"id": [1], "seen": pa.array([None], pa.timestamp("us")), "at": [dt.time(1, 2)]})
    with pytest.raises(SchemaError, match="time has no JSON form"):
        write_table(tmp_path / "t.jsonl", JSONL[Seen], table)
    assert list(tmp_path.iterdir()) == []


NS_BOUND = dt.datetime(2020, 9, 13, 12, 26, 40)
NS_AT_BOUND = 1_600_000_000_000_000_000  # NS_BOUND in nanoseconds since 1970


class NotAfter(Columns):
    t: Annotated[dt.datetime, Check(le=NS_BOUND)]


class NotBefore(Columns):
    t: Annotated[dt.datetime, Check(ge=NS_BOUND)]


_NS_SCRIPT = """
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
from typedflow.tables import SchemaError
from typedflow.tables.check import check_file
from typedflow.tables.schema import schema_of
from tests.tables.test_edges import NS_AT_BOUND, NotAfter, NotBefore
path = Path(sys.argv[1])
for tz in (None, "UTC"):
    for stats in (True, False):
        table = pa.table({"t": pa.array([NS_AT_BOUND + 1], pa.timestamp("ns", tz))})
        pq.write_table(table, path, write_statistics=stats)
        check_file(path, "parquet", schema_of(NotBefore))
        try:
            check_file(path, "parquet", schema_of(NotAfter))
            print("accepted")
        except SchemaError as exc:
            print(exc)
"""


def test_nanosecond_timestamps_are_checked_without_pandas(tmp_path: Path) -> None:
    # Without pandas, pyarrow cannot make a datetime of a nanosecond value: the check failed as if the
    # file were unreadable, the good file as well as the bad one.
    import subprocess
    import sys

    (tmp_path / "pandas").mkdir()
    (tmp_path / "pandas" / "__init__.py").write_text("raise ImportError('no pandas here')\n")
    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{repo}", "PATH": os.environ.get("PATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", _NS_SCRIPT, str(tmp_path / "t.parquet")],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4
    for line in lines:
        assert line.startswith('column "t": 2020-09-13 12:26:40.000000001')
        assert line.endswith("at row 1 breaks Check(le=datetime.datetime(2020, 9, 13, 12, 26, 40))")


@settings(max_examples=30, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(
    st.sampled_from(["s", "ms", "us", "ns"]),
    st.sampled_from([None, "UTC", "+05:00"]),
    st.integers(-3, 3),
    st.sampled_from(["ge", "gt", "le", "lt"]),
)
def test_parquet_timestamp_bounds_from_the_footer_are_exact(
    tmp_path: Path, unit: str, tz: str | None, ticks: int, op: str
) -> None:
    # One value near the bound, in the column's unit: the footer decides whenever the statistics
    # prove the bound, and then agrees with the values.
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    at_bound = NS_AT_BOUND * per_second // 10**9
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"t": pa.array([at_bound + ticks], pa.timestamp(unit, tz))}), path)
    bound = NS_BOUND if tz is None else NS_BOUND.replace(tzinfo=dt.UTC)
    check: dict[str, Any] = {op: bound}
    schema = type("S", (Columns,), {"__annotations__": {"t": Annotated[dt.datetime, Check(**check)]}})
    holds = {"ge": ticks >= 0, "gt": ticks > 0, "le": ticks <= 0, "lt": ticks < 0}[op]
    if holds:
        with _no_column_reads():
            check_file(path, "parquet", schema_of(schema))
    else:
        with pytest.raises(SchemaError, match=r'column "t": .* at row 1 breaks Check'):
            check_file(path, "parquet", schema_of(schema))


@contextlib.contextmanager
def _no_column_reads() -> Iterator[None]:
    def no_reads(*a: Any, **k: Any) -> Any:
        raise AssertionError("the check read column data")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(pq.ParquetFile, "read", no_reads)
        m.setattr(pq.ParquetFile, "read_row_group", no_reads)
        yield


class Share(Columns):
    x: Annotated[float, Check(ge=0, le=1)]


def _write_floats(path: Path, kind: str, values: list[float]) -> None:
    if kind == "parquet":
        pq.write_table(pa.table({"x": pa.array(values, pa.float64())}), path)
    elif kind == "jsonl":  # NaN and Infinity as Python's json writes them
        path.write_text("".join(json.dumps({"x": v}) + "\n" for v in values))
    else:
        path.write_text("x\n" + "".join(f"{v}\n" for v in values))


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_float_bounds_treat_nan_alike_in_every_format(tmp_path: Path, kind: str) -> None:
    # A NaN is no number a bound constrains (Parquet statistics leave NaNs out, so the footer could
    # never prove a bound otherwise); JSONL alone refused it. Infinities are numbers, out of bounds.
    path = tmp_path / f"t.{kind}"
    _write_floats(path, kind, [0.5, math.nan, 1.0])
    check_file(path, kind, schema_of(Share))
    _write_floats(path, kind, [0.5, math.nan, math.inf])
    with pytest.raises(SchemaError, match=r'column "x": inf at row 3 breaks Check\(le=1.0\)'):
        check_file(path, kind, schema_of(Share))


@pytest.mark.parametrize("write_statistics", [True, False])
def test_half_float_columns_with_bounds(tmp_path: Path, write_statistics: bool) -> None:
    # Arrow has no min/max or comparison kernels for float16: the check failed as if unreadable.
    path = tmp_path / "t.parquet"
    table = pa.table({"x": pa.array([0.25, 0.5]).cast(pa.float16())})
    pq.write_table(table, path, write_statistics=write_statistics)
    check_file(path, "parquet", schema_of(Share))
    table = pa.table({"x": pa.array([0.25, 1.5]).cast(pa.float16())})
    pq.write_table(table, path, write_statistics=write_statistics)
    with pytest.raises(SchemaError, match=r'column "x": 1.5 at row 2 breaks Check\(le=1.0\)'):
        check_file(path, "parquet", schema_of(Share))


NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
BOUNDED: dict[type, st.SearchStrategy[Any]] = {
    int: st.integers(-(2**63), 2**63 - 1) | st.integers(-5, 5),
    float: st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1.5, -1.5]),
    dt.date: st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)) | st.dates(dt.date(2000, 1, 1), dt.date(2000, 1, 5)),
    Decimal: st.decimals(-(10**6), 10**6, places=3),
    str: st.text(st.characters(codec="utf-8", exclude_categories=NO_SURROGATES), max_size=4),
    dt.datetime: st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31))
    | st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2000, 1, 1, 0, 0, 0, 5)),
    bool: st.booleans(),
    bytes: st.binary(max_size=3),
}
_ORDERED = (int, float, dt.date, Decimal, str, dt.datetime)


@st.composite
def bounded_columns(draw: st.DrawFn) -> tuple[type[Columns], list[Any], set[tuple[str, int]]]:
    """A one-column schema with random constraints, random values, and the violations a checker may
    report: (what, row) for the first row of each kind of violation; empty when the values pass."""
    tp = draw(st.sampled_from(list(BOUNDED)))
    values = draw(st.lists(st.none() | BOUNDED[tp], min_size=1, max_size=8))
    present = [v for v in values if v is not None]
    optional = draw(st.booleans())
    kinds = ["ge", "gt", "le", "lt", "isin", "unique"] if tp in _ORDERED else ["isin", "unique"]
    ops = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3, unique=True))
    check: dict[str, Any] = {}
    for op in ops:
        if op == "unique":
            check["unique"] = True
        elif op == "isin":
            check["isin"] = draw(st.lists(BOUNDED[tp], max_size=3)) + draw(st.sampled_from([[], present[:2]]))
        else:
            near = draw(st.booleans()) if present else False  # a bound equal to a value, or any
            check[op] = draw(st.sampled_from(present) if near else BOUNDED[tp])
    ann: Any = Annotated[tp | None if optional else tp, Check(**check)]
    schema = type("Drawn", (Columns,), {"__annotations__": {"v": ann}})
    found: dict[str, int] = {}
    seen: set[Any] = set()
    for i, v in enumerate(values):
        broken = set()
        if v is None:
            broken = set() if optional else {"null"}
        else:
            compare = {"ge": v.__ge__, "gt": v.__gt__, "le": v.__le__, "lt": v.__lt__}
            bounds = [op for op in ("ge", "gt", "le", "lt") if op in check]
            broken = {f"breaks Check({op}" for op in bounds if not compare[op](check[op])}
            if "isin" in check and v not in check["isin"]:
                broken.add("is not one of")
            if "unique" in check and v in seen:
                broken.add("already appears")
            seen.add(v)
        for what in broken:
            found.setdefault(what, i + 1)
    return schema, values, set(found.items())


_REPORTED = re.compile(
    r" at row (\d+) (breaks Check\([a-z]+|is not one of|already appears)"
    r'|^column "v": (null) (?:or missing )?at row (\d+)'
)


@settings(max_examples=100, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(bounded_columns(), st.integers(1, 3), st.booleans(), st.booleans())
def test_every_format_reports_a_first_violation_of_the_values(
    tmp_path: Path, drawn: Any, group: int, statistics: bool, dictionary: bool
) -> None:
    # One oracle for every format: the values pass, or the check names a kind of violation at the
    # first row that has it. Parquet also in row groups of 1-3 rows, with or without statistics,
    # dictionary-encoded or not.
    schema, values, violations = drawn
    # An id column keeps a row whose only value is null from being a blank CSV line.
    data = {"id": list(range(len(values))), "v": values}
    files = []
    for kind, fmt in FORMATS.items():
        files.append((tmp_path / f"t.{kind}", kind))
        write_table(files[-1][0], fmt, data)
    files.append((tmp_path / "groups.parquet", "parquet"))
    options = {"row_group_size": group, "write_statistics": statistics, "use_dictionary": dictionary}
    pq.write_table(pa.table(data), files[-1][0], **options)
    for path, kind in files:
        if not violations:
            check_file(path, kind, schema_of(schema))
            continue
        with pytest.raises(SchemaError) as info:
            check_file(path, kind, schema_of(schema))
        m = _REPORTED.search(str(info.value))
        assert m and str(info.value).startswith('column "v": '), (path.name, str(info.value))
        what, row = (m[2], m[1]) if m[1] else (m[3], m[4])
        assert (what, int(row)) in violations, (path.name, str(info.value), violations)


class Signed(Columns):
    x: Annotated[float, Check(isin=[0.0, 1.0])]
    y: Annotated[float, Check(unique=True)]


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_negative_zero_is_zero_for_isin_and_unique(tmp_path: Path, kind: str) -> None:
    # Arrow's hashing told -0.0 from 0.0: -0.0 was not in [0.0], and [0.0, -0.0] was unique.
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind], {"x": [-0.0, 1.0], "y": [1.0, -0.0]})
    check_file(path, kind, schema_of(Signed))
    write_table(path, FORMATS[kind], {"x": [1.0, 1.0], "y": [0.0, -0.0]})
    with pytest.raises(SchemaError, match=r'column "y": .* at row 2 already appears at row 1'):
        check_file(path, kind, schema_of(Signed))


class Keyed(Columns):
    id: Annotated[int, Check(unique=True)]
    when: dt.datetime | None
    amount: Decimal
    blob: bytes


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("data", [[], {"id": [], "when": [], "amount": [], "blob": []}])
def test_an_empty_table_is_written_checked_and_read(tmp_path: Path, kind: str, data: Any) -> None:
    # No rows: write_table refused it (no columns in an empty list of rows) or failed in Arrow (the
    # uniqueness of an empty column).
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind][Keyed], data)
    check_file(path, kind, schema_of(Keyed))
    table = read_table(path, FORMATS[kind][Keyed])
    assert table.num_rows == 0
    assert {"id", "when", "amount", "blob"} <= set(table.column_names)


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_a_byte_order_mark_and_crlf_line_ends_are_read_alike_in_every_text_format(tmp_path: Path, kind: str) -> None:
    # CSV/TSV skipped a UTF-8 byte order mark, JSONL refused the file ("row 1 is not JSON").
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind][Seen], [{"id": 1, "seen": None}, {"id": 2, "seen": dt.datetime(2020, 1, 1)}])
    if kind != "parquet":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    check_file(path, kind, schema_of(Seen))
    check_file(path, kind, schema_of(Seen), rows=False)
    assert read_table(path, FORMATS[kind][Seen]).column("id").to_pylist() == [1, 2]
    assert read_table(path, FORMATS[kind]).column("id").to_pylist() == [1, 2]


def test_csv_datetime_errors_mention_time_zones_only_when_the_value_has_the_other_kind(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,seen\n1,2020-01-01T00:00:00\n2,2020-13-01T00:00:00\n")
    with pytest.raises(SchemaError) as info:
        check_file(path, "csv", schema_of(Seen))
    assert str(info.value) == "column \"seen\": expected datetime | None, got '2020-13-01T00:00:00' at row 2"
    path.write_text("id,seen\n1,2020-01-01T00:00:00\n2,2020-01-01T00:00:00+01:00\n")
    with pytest.raises(SchemaError, match=r"at row 2 \(a datetime column has a UTC offset in every row, or in none\)"):
        check_file(path, "csv", schema_of(Seen))


_DIGEST_SCRIPT = """
from typing import Annotated
from typedflow.tables import Check, Columns
from typedflow.tables.schema import schema_digest, schema_of

class S(Columns):
    country: Annotated[str, Check(isin={"FR", "DE", "ES", "IT", "PL", "NL", "BE", "PT"})]
    code: Annotated[bytes, Check(isin=frozenset({b"a", b"b", b"c", b"d"}))]

print(schema_digest(schema_of(S)))
"""


def test_a_set_of_allowed_values_makes_one_schema_digest_whatever_the_hash_seed() -> None:
    # A set's order follows string hashing, which changes with each process: the schema (and so the
    # IR, its digest, compiled output and lineage) changed from one run to the next.
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    digests = set()
    for seed in ("1", "2", "3"):
        env = {"PYTHONPATH": str(repo), "PYTHONHASHSEED": seed, "PATH": os.environ.get("PATH", "")}
        command = [sys.executable, "-c", _DIGEST_SCRIPT]
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests
    assert Check(isin={"b", "a", "c"}).isin == ("a", "b", "c")
    assert Check(isin=["b", "a"]).isin == ("b", "a")  # a sequence keeps its order


class Real(Columns):
    x: float


def test_write_table_of_ints_a_float_column_cannot_hold_exactly_is_a_schema_error(tmp_path: Path) -> None:
    # The int-to-float conversion is exact or refused: Arrow's refusal escaped as ArrowInvalid.
    write_table(tmp_path / "ok.parquet", Parquet[Real], [{"x": 2**53}])
    with pytest.raises(SchemaError, match=r'column "x": expected float, got int64 .*9007199254740993'):
        write_table(tmp_path / "t.parquet", Parquet[Real], [{"x": 2**53 + 1}])


@pytest.mark.parametrize("n", [2**53 + 1, -(2**63), 10**30])
def test_jsonl_integers_in_a_float_column_are_read_as_json_numbers(tmp_path: Path, n: int) -> None:
    # A JSON number is a double: as in a CSV file, a large integer is the nearest float. JSONL's check
    # accepted it, then read_table refused it.
    path = tmp_path / "t.jsonl"
    path.write_text(f'{{"x": {n}}}\n')
    check_file(path, "jsonl", schema_of(Real))
    assert read_table(path, JSONL[Real]).column("x").to_pylist() == [float(n)]
    csv = tmp_path / "t.csv"
    csv.write_text(f"x\n{n}\n")
    assert read_table(csv, CSV[Real]).column("x").to_pylist() == [float(n)]


def test_jsonl_an_integer_beyond_every_float_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(f'{{"x": 1}}\n{{"x": {10**400}}}\n')
    with pytest.raises(SchemaError, match=r'column "x": expected float, got a JSON integer 1000.* at row 2'):
        check_file(path, "jsonl", schema_of(Real))


class Notes(Columns):
    id: int
    note: str


@pytest.mark.parametrize("kind", ["csv", "tsv"])
def test_cells_with_newlines_in_a_csv_larger_than_a_block(tmp_path: Path, kind: str) -> None:
    # pyarrow splits a CSV into blocks (1 MB) at newlines unless told that values may hold them:
    # read_table refused a file write_table had written ("Expected 2 columns, got 1").
    rows = [{"id": i, "note": f"line one {i}\nline two, with a comma\tand a tab\nthree"} for i in range(40_000)]
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind][Notes], rows)
    assert path.stat().st_size > 2 << 20
    check_file(path, kind, schema_of(Notes))
    table = read_table(path, FORMATS[kind][Notes])
    assert table.num_rows == len(rows) and table.column("note")[-1].as_py() == rows[-1]["note"]
    assert read_table(path, FORMATS[kind]).num_rows == len(rows)
    rows[30_000]["id"] = None
    write_table(path, FORMATS[kind], rows)
    with pytest.raises(SchemaError, match='column "id": null at row 30001'):
        check_file(path, kind, schema_of(Notes))


def test_jsonl_undeclared_keys_are_read_whatever_their_values(tmp_path: Path) -> None:
    # "Other columns are read as they are": read_table refused a file whose undeclared key held an
    # object in one row and a string in another, and dropped keys the first row lacked.
    path = tmp_path / "t.jsonl"
    rows = [{"id": 1, "seen": None, "meta": {"a": 1}}, {"id": 2, "meta": "text", "late": True}, {"id": 3}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    check_file(path, "jsonl", schema_of(Seen))
    for fmt in (JSONL[Seen], JSONL):
        table = read_table(path, fmt)
        assert table.column("id").to_pylist() == [1, 2, 3]
        assert table.column("meta").to_pylist() == ['{"a": 1}', '"text"', None]  # as JSON text
        assert table.column("late").to_pylist() == [None, True, None]
    assert read_table(path, JSONL[Seen]).column("seen").type == pa.timestamp("us")


class Dated(Columns):
    id: int
    name: str
    when: dt.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,a,2020-01-01\n2,b,2020-01-02\n3,c", "row 3 has 2 fields, the header 3"),  # a truncated file
        ("1,a,2020-01-01\n\n2,b,2020-01-02,x\n3,c,2020-01-03\n", "row 2 has 4 fields, the header 3"),
        ('1,"a\nb",2020-01-01\n2,b\n', "row 2 has 2 fields, the header 3"),
    ],
)
def test_a_csv_row_with_another_number_of_fields_is_named(tmp_path: Path, text: str, expected: str) -> None:
    # pyarrow's parse error names the row's text, not its number.
    path = tmp_path / "t.csv"
    path.write_text("id,name,when\n" + text)
    checks: list[Callable[[], object]] = [
        lambda: check_file(path, "csv", schema_of(Dated)),
        lambda: read_table(path, CSV[Dated]),
        lambda: read_table(path, CSV),
    ]
    for check in checks:
        with pytest.raises(SchemaError, match=re.escape(expected)):
            check()


D15 = Decimal("1.5")
VIEWS = [
    ("s", pa.array(["b", "a"], pa.string_view()), Annotated[str, Check(ge="b", isin=["b"], unique=True)]),
    ("b", pa.array([b"x", b"y"], pa.binary_view()), Annotated[bytes, Check(isin=[b"x"], unique=True)]),
    ("d", pa.array([Decimal("1.5"), Decimal("0.5")], pa.decimal64(5, 1)), Annotated[Decimal, Check(ge=1, isin=[D15])]),
    ("h", pa.array([1.5, 0.5]).cast(pa.float16()), Annotated[float, Check(ge=1, isin=[1.5], unique=True)]),
]


@pytest.mark.parametrize(("name", "arr", "ann"), VIEWS, ids=[v[0] for v in VIEWS])
def test_write_table_checks_arrow_view_and_narrow_decimal_columns(
    tmp_path: Path, name: str, arr: Any, ann: Any
) -> None:
    # Arrow has no min/max, comparison or is_in kernels for these: the check failed in Arrow.
    schema = type("S", (Columns,), {"__annotations__": {name: ann}})
    write_table(tmp_path / "ok.parquet", FORMATS["parquet"][schema], pa.table({name: arr.slice(0, 1)}))
    with pytest.raises(SchemaError, match=f'column "{name}": .* at row 2 (breaks|is not one of)'):
        write_table(tmp_path / "t.parquet", FORMATS["parquet"][schema], pa.table({name: arr}))


def test_a_parquet_file_damaged_behind_a_sound_footer(tmp_path: Path) -> None:
    # The check reads the footer only (documented); reading the data raised pyarrow's OSError.
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(10_000)), "seen": [None] * 10_000}), path, compression="snappy")
    data = bytearray(path.read_bytes())
    data[100:2000] = bytes(b ^ 0xFF for b in data[100:2000])
    path.write_bytes(bytes(data))
    check_file(path, "parquet", schema_of(Seen))
    with pytest.raises(SchemaError, match=f"^{re.escape(str(path))}: cannot read it as parquet: "):
        read_table(path, Parquet[Seen])


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_a_directory_s_table_files_are_found_whatever_the_case_of_their_suffix(tmp_path: Path, kind: str) -> None:
    # Files were found by suffix case-sensitively: a part.CSV in a TypedDirectory[CSV[...]] was not
    # checked at all, and a directory of only such files was "no .csv files".
    directory: Any = TypedDirectory  # of a format chosen at run time
    t = type_ref(directory[FORMATS[kind][Seen]])
    params = (ir.Param("out", t),)
    suffixes = [f".{kind.upper()}", f".{kind.capitalize()}"] + ([".pq", ".PQ"] if kind == "parquet" else [])
    for i, suffix in enumerate(suffixes):
        write_table(tmp_path / f"part-{i}{suffix}", FORMATS[kind][Seen], [{"id": i, "seen": None}])
    assert violation(params, {"out": {"uri": str(tmp_path)}}, received=False) is None
    bad = tmp_path / f"late{suffixes[0]}"
    write_table(bad, FORMATS[kind], [{"id": None, "seen": None}])
    problem = violation(params, {"out": {"uri": str(tmp_path)}}, received=False)
    assert problem is not None and f'{bad.name}: column "id": null' in problem


@pytest.mark.parametrize("flat_first", [True, False])
@pytest.mark.parametrize("statistics", [True, False])
def test_a_flat_parquet_column_named_like_a_struct_field_is_checked_by_its_own_statistics(
    tmp_path: Path, flat_first: bool, statistics: bool
) -> None:
    # A flat column "a.b" and the field b of a struct a have one dotted leaf path: the footer's
    # statistics were looked up by path, so the check could judge "a.b" by the struct field's values.
    schema = schema_of(type("Dotted", (Columns,), {"__annotations__": {"a.b": Annotated[int, Check(le=5)]}}))
    path = tmp_path / "t.parquet"

    def write(flat: list[int], field: list[int]) -> None:
        struct = pa.array([{"b": v, "c": 0} for v in field])
        columns = {"a.b": pa.array(flat), "a": struct} if flat_first else {"a": struct, "a.b": pa.array(flat)}
        pq.write_table(pa.table(columns), path, write_statistics=statistics)

    write([1, 2], [100, 200])
    check_file(path, "parquet", schema)
    write([1, 200], [1, 2])
    with pytest.raises(SchemaError, match=r'column "a.b": 200 at row 2 breaks Check\(le=5\)'):
        check_file(path, "parquet", schema)


class Distinct(Columns):
    x: Annotated[float | None, Check(unique=True)]


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_unique_counts_every_nan_as_one_value_in_every_format(tmp_path: Path, kind: str) -> None:
    # JSONL refused a second NaN, Arrow (Parquet, CSV, TSV, write_table) let it pass: Arrow's hashing
    # found the duplicate, then a Python NaN, equal to nothing, could not say which row repeated it.
    path = tmp_path / f"t.{kind}"
    _write_floats(path, kind, [math.nan, 1.0, 2.0])
    check_file(path, kind, schema_of(Distinct))
    _write_floats(path, kind, [math.nan, 1.0, math.nan])
    with pytest.raises(
        SchemaError, match=r'column "x": nan at row 3 already appears at row 1 \(Check\(unique=True\)\)'
    ):
        check_file(path, kind, schema_of(Distinct))
    with pytest.raises(SchemaError, match=r'column "x": nan at row 3 already appears at row 1'):
        write_table(tmp_path / f"w.{kind}", FORMATS[kind][Distinct], {"x": [math.nan, None, math.nan]})


def test_unique_counts_nans_of_any_sign_and_payload_as_one_value(tmp_path: Path) -> None:
    # Arrow hashes a NaN by its bits: -NaN and a NaN with another payload were distinct values.
    other = struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_0000_0001))[0]
    path = tmp_path / "t.parquet"
    for second in (-math.nan, other):
        pq.write_table(pa.table({"x": pa.array([math.nan, None, None, second])}), path)
        with pytest.raises(SchemaError, match=r'column "x": nan at row 4 already appears at row 1'):
            check_file(path, "parquet", schema_of(Distinct))


@pytest.mark.parametrize("typed", [True, False])
def test_a_jsonl_row_with_a_repeated_key_is_refused(tmp_path: Path, typed: bool) -> None:
    # json keeps the last value of a repeated key: a row that said two things about a column passed
    # as whichever came last.
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1, "seen": null}\n\n{"id": 2, "seen": null, "id": null}\n')
    expected = r'^row 3 has the key "id" more than once$'
    if typed:
        with pytest.raises(SchemaError, match=expected):
            check_file(path, "jsonl", schema_of(Seen))
    with pytest.raises(SchemaError, match=f'{re.escape(str(path))}: row 3 has the key "id" more than once'):
        read_table(path, JSONL[Seen] if typed else JSONL)
    # Only a row's own keys are columns: an object inside a value is read as it is.
    path.write_text('{"id": 1, "seen": null, "meta": {"a": 1, "a": 2}}\n')
    check_file(path, "jsonl", schema_of(Seen))
    assert read_table(path, JSONL[Seen] if typed else JSONL).column("id").to_pylist() == [1]


PLUS2 = dt.timezone(dt.timedelta(hours=2))
MIXED = [dt.datetime(2020, 1, 1), None, dt.datetime(2020, 1, 1, tzinfo=PLUS2)]


def _mixed_data(shape: str, values: list[Any]) -> Any:
    ids = list(range(len(values)))
    if shape == "rows":
        return [{"id": i, "seen": v} for i, v in zip(ids, values, strict=True)]
    if shape == "columns":
        return {"id": ids, "seen": values}
    if shape == "numpy":
        np = pytest.importorskip("numpy")
        return {"id": np.array(ids), "seen": np.array(values, dtype=object)}
    pd = pytest.importorskip("pandas")
    index = [10 * i for i in ids]  # rows are counted by position, not by label
    return pd.DataFrame({"id": ids, "seen": pd.Series(values, dtype=object, index=index)}, index=index)


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("shape", ["rows", "columns", "numpy", "pandas"])
@pytest.mark.parametrize("values", [MIXED, MIXED[::-1]], ids=["naive-first", "zoned-first"])
@pytest.mark.parametrize("typed", [True, False])
def test_write_table_refuses_a_column_of_zoned_and_naive_datetimes(
    tmp_path: Path, kind: str, shape: str, values: list[Any], typed: bool
) -> None:
    # Arrow made such a column one kind, shifting the others by their offset (a naive value read as
    # UTC): write_table wrote what the CSV and JSONL checks refuse to read.
    fmt = FORMATS[kind][Seen] if typed else FORMATS[kind]
    path = tmp_path / f"t.{kind}"
    with pytest.raises(SchemaError, match=r'column "seen": .* at row 3 .*UTC offset in every row, or in none'):
        write_table(path, fmt, _mixed_data(shape, values))
    assert not path.exists()
    zoned = [v if v is None else v.replace(tzinfo=PLUS2) for v in values]
    naive = [v if v is None else v.replace(tzinfo=None) for v in values]
    for same in (zoned, naive):
        write_table(path, fmt, _mixed_data(shape, same))
        check_file(path, kind, schema_of(Seen))


def test_write_table_takes_pandas_nat_beside_zoned_datetimes(tmp_path: Path) -> None:
    # NaT is a datetime without a time zone, and no value: it is a null, not a naive datetime.
    pd = pytest.importorskip("pandas")
    seen = pd.Series([pd.NaT, dt.datetime(2020, 1, 1, tzinfo=PLUS2)], dtype=object)
    write_table(tmp_path / "t.csv", CSV[Seen], pd.DataFrame({"id": [1, 2], "seen": seen}))
    assert read_table(tmp_path / "t.csv", CSV[Seen]).column("seen").null_count == 1
