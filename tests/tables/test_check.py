"""Checks on the data: every format written and read back through the schema, and each kind of
violation reported with the column, what was expected, what was found and the first bad row."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from typedflow.formats import CSV, JSONL, TSV, Format, Parquet
from typedflow.tables import Check, Columns, SchemaError
from typedflow.tables.check import check_file
from typedflow.tables.io import read_table, write_table
from typedflow.tables.schema import schema_of

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

# Any: FORMATS[kind][cls] makes a format class at run time, where mypy sees a types.GenericAlias.
FORMATS: dict[str, Any] = {"parquet": Parquet, "csv": CSV, "tsv": TSV, "jsonl": JSONL}
VALUES: dict[type, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: st.integers(-(2**53), 2**53),
    float: st.floats(allow_nan=False, allow_infinity=False),
    str: st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
    dt.date: st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1)),
    dt.datetime: st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
    Decimal: st.decimals(-(10**6), 10**6, places=2),
    bytes: st.binary(max_size=8),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[type[Columns], list[dict[str, Any]]]:
    spec = draw(st.lists(st.tuples(st.sampled_from(list(VALUES)), st.booleans()), min_size=1, max_size=5))
    annotations = {f"c{i}": (t | None if null else t) for i, (t, null) in enumerate(spec)}
    cls = type("Drawn", (Columns,), {"__annotations__": annotations})
    n = draw(st.integers(1, 6))
    rows = [
        {f"c{i}": draw(st.none() | VALUES[t] if null else VALUES[t]) for i, (t, null) in enumerate(spec)}
        for _ in range(n)
    ]
    return cls, rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return bool(a == b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables(), st.sampled_from(sorted(FORMATS)))
def test_written_tables_pass_and_read_back(tmp_path: Path, drawn: Any, kind: str) -> None:
    cls, rows = drawn
    # A blank line is no row: a one-column CSV cannot hold a null.
    assume(kind not in ("csv", "tsv") or len(rows[0]) > 1 or all(r["c0"] is not None for r in rows))
    fmt = FORMATS[kind][cls]
    path = tmp_path / f"t.{kind}"
    write_table(path, fmt, rows)
    check_file(path, kind, schema_of(cls))
    back = read_table(path, fmt).to_pylist()
    assert len(back) == len(rows)
    for want, got in zip(rows, back, strict=True):
        for k, v in want.items():
            assert _same(got[k], v), (k, got[k], v)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables(), st.sampled_from(sorted(FORMATS)), st.data())
def test_a_null_in_a_non_optional_column_names_column_and_row(
    tmp_path: Path, drawn: Any, kind: str, data: st.DataObject
) -> None:
    cls, rows = drawn
    schema = schema_of(cls)
    required = [c.name for c in schema.columns if not c.nullable]
    if not required:
        return
    assume(kind not in ("csv", "tsv") or len(rows[0]) > 1)  # a blank line is no row
    col = data.draw(st.sampled_from(required))
    row = data.draw(st.integers(0, len(rows) - 1))
    rows[row][col] = None
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind], rows)  # no schema: written as it is
    with pytest.raises(SchemaError) as info:
        check_file(path, kind, schema)
    msg = str(info.value)
    assert f'column "{col}"' in msg and f"row {row + 1}" in msg and "not Optional" in msg


class People(Columns):
    id: Annotated[int, Check(unique=True)]
    age: Annotated[float, Check(ge=0, le=130)]
    country: Annotated[str | None, Check(isin=["FR", "DE"])]
    joined: Annotated[dt.date, Check(ge=dt.date(2000, 1, 1))]


def _people(n: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "age": 20.0 + i,
            "country": ["FR", "DE", None][i % 3],
            "joined": dt.date(2020, 1, 1) + dt.timedelta(days=i),
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"age": 131.0}, 'column "age": 131.0 at row 3 breaks Check(le=130.0)'),
        ({"age": -1.0}, 'column "age": -1.0 at row 3 breaks Check(ge=0.0)'),
        ({"country": "US"}, "column \"country\": 'US' at row 3 is not one of ['FR', 'DE']"),
        ({"id": 0}, 'column "id": 0 at row 3 already appears at row 1 (Check(unique=True))'),
        ({"joined": dt.date(1999, 12, 31)}, 'column "joined": datetime.date(1999, 12, 31) at row 3 breaks'),
    ],
)
def test_value_constraints(tmp_path: Path, kind: str, change: dict[str, Any], expected: str) -> None:
    rows = _people()
    rows[2].update(change)
    path = tmp_path / f"t.{kind}"
    write_table(path, FORMATS[kind], rows)
    with pytest.raises(SchemaError) as info:
        check_file(path, kind, schema_of(People))
    assert expected in str(info.value)
    with pytest.raises(SchemaError, match="at row 3"):  # write_table refuses them too
        write_table(tmp_path / f"u.{kind}", FORMATS[kind][People], rows)


def test_parquet_types_from_the_footer(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": [1, 2], "age": ["20", "30"], "country": ["FR", None], "joined": [None, None]}), path)
    with pytest.raises(SchemaError, match='column "age": expected float, got string'):
        check_file(path, "parquet", schema_of(People))
    pq.write_table(pa.table({"id": [1], "age": [1.0]}), path)
    with pytest.raises(SchemaError, match=r'missing column "country" \(str \| None\); the file has: id, age'):
        check_file(path, "parquet", schema_of(People))


def test_parquet_widths_units_dictionaries_are_the_same_column_type(tmp_path: Path) -> None:
    class Wide(Columns):
        small: int
        f32: float
        when: dt.datetime
        cat: str
        money: Decimal

    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "small": pa.array([1, 2], pa.int8()),
            "f32": pa.array([1.5, 2.5], pa.float32()),
            "when": pa.array([dt.datetime(2020, 1, 1)] * 2, pa.timestamp("ms", tz="Europe/Paris")),
            "cat": pa.array(["a", "b"]).dictionary_encode(),
            "money": pa.array([Decimal("1.10"), Decimal("2.20")], pa.decimal128(5, 2)),
        }
    )
    pq.write_table(table, path)
    check_file(path, "parquet", schema_of(Wide))


def test_parquet_check_reads_only_the_footer_when_statistics_prove_it(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "t.parquet"
    rows = _people(200)
    for r in rows:
        r.update(country="FR", when=dt.datetime(2020, 1, 2) + dt.timedelta(hours=r["id"]))
    write_table(path, Parquet, rows)

    class NoUnique(Columns):
        id: Annotated[int, Check(gt=-1, lt=200)]
        age: Annotated[float, Check(ge=0, le=300), Check(gt=19.5)]
        joined: Annotated[dt.date, Check(ge=dt.date(2020, 1, 1), le=dt.date(2021, 1, 1))]
        when: Annotated[dt.datetime | None, Check(ge=dt.datetime(2020, 1, 1))]

    def no_reads(*a: Any, **k: Any) -> Any:
        raise AssertionError("the check read column data")

    monkeypatch.setattr(pq.ParquetFile, "read", no_reads)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", no_reads)
    check_file(path, "parquet", schema_of(NoUnique))
    with pytest.raises(SchemaError, match="read column data"):  # uniqueness needs the column
        check_file(path, "parquet", schema_of(People))


def test_parquet_bounds_at_the_edge_read_the_column(tmp_path: Path) -> None:
    # The statistics show min == 0 for a strict bound: only the values can say which row breaks it.
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": [3, 1, 0, 2], "d": [dt.date(2020, 1, 2)] * 4}), path)

    class S(Columns):
        n: Annotated[int, Check(gt=0)]

    with pytest.raises(SchemaError, match=r'column "n": 0 at row 3 breaks Check\(gt=0\)'):
        check_file(path, "parquet", schema_of(S))

    class D(Columns):
        d: Annotated[dt.date, Check(lt=dt.date(2020, 1, 2))]

    with pytest.raises(SchemaError, match=r'column "d": datetime.date\(2020, 1, 2\) at row 1 breaks'):
        check_file(path, "parquet", schema_of(D))


def test_parquet_without_statistics_reads_the_column(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": [1, None, 3], "age": [1.0, 2.0, 300.0]}), path, write_statistics=False)

    class S(Columns):
        id: int | None
        age: Annotated[float, Check(le=130)]

    with pytest.raises(SchemaError, match=r'column "age": 300\.0 at row 3 breaks'):
        check_file(path, "parquet", schema_of(S))

    class T(Columns):
        id: int

    with pytest.raises(SchemaError, match='column "id": null at row 2'):
        check_file(path, "parquet", schema_of(T))


def test_csv_conversion_error_is_located(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = ["id,age,country,joined,extra"] + [f"{i},{i}.5,FR,2020-01-0{i + 1},x" for i in range(5)]
    rows[4] = "3,3.x,FR,2020-01-04,x"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(SchemaError, match=re.escape("column \"age\": expected float, got '3.x' at row 4")):
        check_file(path, "csv", schema_of(People))
    # The header alone (what a task checks when it receives a CSV) passes; reading it does not.
    check_file(path, "csv", schema_of(People), rows=False)
    with pytest.raises(SchemaError, match="at row 4"):
        read_table(path, CSV[People])


def test_csv_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("id\tage\tage\tcountry\tjoined\n")
    with pytest.raises(SchemaError, match='column "age" appears more than once'):
        check_file(path, "tsv", schema_of(People), rows=False)
    path.write_text("")
    with pytest.raises(SchemaError, match="the file is empty"):
        check_file(path, "tsv", schema_of(People), rows=False)


def test_csv_text_columns(tmp_path: Path) -> None:
    class S(Columns):
        when: dt.datetime
        money: Decimal
        blob: bytes | None

    path = tmp_path / "t.csv"
    path.write_text("when,money,blob\n2020-01-01T00:00:00+02:00,1.50,aGk=\n2020-01-02T00:00:00Z,-3,\n")
    check_file(path, "csv", schema_of(S))
    table = read_table(path, CSV[S])
    assert table.column("money").to_pylist() == [Decimal("1.50"), Decimal("-3.00")]
    assert table.column("blob").to_pylist() == [b"hi", None]
    path.write_text("when,money,blob\n2020-01-01T00:00:00+02:00,1.50,aGk=\n2020-01-02T00:00:00,1e,\n")
    with pytest.raises(SchemaError, match="UTC offset in every row"):
        check_file(path, "csv", schema_of(S))
    path.write_text("when,money,blob\n2020-01-01T00:00:00,1.5.0,aGk=\n")
    expected = "column \"money\": expected Decimal (a decimal number), got '1.5.0'"
    with pytest.raises(SchemaError, match=re.escape(expected)):
        check_file(path, "csv", schema_of(S))


def test_jsonl_per_row(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [{"id": i, "age": 20 + i, "joined": "2020-01-01", "country": "FR"} for i in range(4)]
    lines[2]["age"] = "22"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n\n")
    with pytest.raises(SchemaError, match='column "age": expected float, got a JSON string "22" at row 3'):
        check_file(path, "jsonl", schema_of(People))
    check_file(path, "jsonl", schema_of(People), rows=False)  # the first row only
    del lines[2]["age"]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    with pytest.raises(SchemaError, match='column "age": null or missing at row 3'):
        check_file(path, "jsonl", schema_of(People))
    path.write_text('{"id": 1, "age": 1, "joined": "2020-01-01"}\n[1, 2]\n')
    with pytest.raises(SchemaError, match="row 2 is a JSON array, not a JSON object"):
        check_file(path, "jsonl", schema_of(People))
    path.write_text('{"id": true, "age": 1, "joined": "2020-01-01"}\n')
    with pytest.raises(SchemaError, match='column "id": expected int, got a JSON boolean true at row 1'):
        check_file(path, "jsonl", schema_of(People))


def test_corrupt_and_unknown_files(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(SchemaError, match="cannot read"):
        check_file(path, "parquet", schema_of(People))
    with pytest.raises(SchemaError, match="cannot read"):
        check_file(tmp_path / "absent.csv", "csv", schema_of(People))
    with pytest.raises(SchemaError, match="not a table format"):
        read_table(tmp_path / "x.bin", Format)


def test_pandas_round_trip(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2], "age": [20, 30], "country": ["FR", None], "joined": [dt.date(2020, 1, 1)] * 2})
    path = tmp_path / "t.parquet"
    write_table(path, Parquet[People], frame)  # int ages into a float column: converted
    back = read_table(path, Parquet[People], pandas=True)
    assert list(back["age"]) == [20.0, 30.0] and list(back["id"]) == [1, 2]
    frame["id"] = ["a", "b"]
    with pytest.raises(SchemaError, match='column "id": expected int, got'):
        write_table(path, Parquet[People], frame)
    assert list(read_table(path, Parquet[People], pandas=True)["id"]) == [1, 2]  # nothing half-written


def test_without_pyarrow_the_error_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    path = tmp_path / "t.csv"
    path.write_text("id\n1\n")
    with pytest.raises(SchemaError, match=r"needs pyarrow: pip install 'typedflow\[tables\]'"):
        check_file(path, "csv", schema_of(People))
    with pytest.raises(SchemaError, match="read_table needs pyarrow"):
        read_table(path, CSV[People])
    path = tmp_path / "t.jsonl"  # JSONL is checked without it
    path.write_text('{"id": 1, "age": 2, "joined": "2020-01-01"}\n')
    check_file(path, "jsonl", schema_of(People))
