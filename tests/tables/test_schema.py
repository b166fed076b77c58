"""Column schemas: Columns classes as IR schemas, table formats given a schema, the IR round trip."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, ClassVar

import pytest

from typedflow import TypedDirectory, TypedFile, ir
from typedflow.errors import UnsupportedType
from typedflow.formats import CSV, JSON, JSONL, TSV, Format, Parquet, format_key, format_lineage
from typedflow.ir import codec, render
from typedflow.ir.types import type_ref
from typedflow.tables import Check, Columns
from typedflow.tables.schema import schema_digest, schema_of


class Base(Columns):
    id: Annotated[int, Check(unique=True)]
    note: ClassVar[str] = "not a column"


class Every(Base):
    flag: bool
    age: Annotated[float, Check(ge=0, lt=150.5)]
    name: str | None
    day: Annotated[dt.date, Check(ge=dt.date(2020, 1, 1))]
    seen: dt.datetime | None
    spend: Annotated[Decimal, Check(le=Decimal("99.99"))]
    blob: bytes
    tier: Annotated[str | None, Check(isin=("a", "b"))]


def test_columns_become_the_ir_schema() -> None:
    s = schema_of(Every)
    assert s.name.endswith(":Every")
    assert [(c.name, c.type, c.nullable) for c in s.columns] == [
        ("id", "int", False),
        ("flag", "bool", False),
        ("age", "float", False),
        ("name", "str", True),
        ("day", "date", False),
        ("seen", "datetime", True),
        ("spend", "decimal", False),
        ("blob", "bytes", False),
        ("tier", "str", True),
    ]
    by = {c.name: c for c in s.columns}
    assert by["id"].checks == (ir.ColumnCheck(unique=True),)
    assert by["age"].checks == (ir.ColumnCheck(ge=0.0, lt=150.5),)
    assert by["day"].checks == (ir.ColumnCheck(ge="2020-01-01"),)  # typed JSON of the column's type
    assert by["spend"].checks == (ir.ColumnCheck(le="99.99"),)
    assert by["tier"].checks == (ir.ColumnCheck(isin=("a", "b")),)


def test_schema_digest_ignores_order_and_class_name() -> None:
    class A(Columns):
        x: int
        y: str | None

    class B(Columns):
        y: str | None
        x: int

    class C(Columns):
        x: int
        y: str

    assert schema_digest(schema_of(A)) == schema_digest(schema_of(B)) != schema_digest(schema_of(C))
    assert schema_digest(schema_of(A)).startswith("sha256:")


@pytest.mark.parametrize(
    ("ann", "message"),
    [
        (list[int], "list[int] is not a column type"),
        (int | str, "a column has one type"),
        (dict, "dict is not a column type"),
        (Annotated[bool, Check(ge=True)], "a bool column has no order"),
        (Annotated[int, Check(ge=1.5)], "1.5 is not a int value"),
        (Annotated[int, Check(isin=[1, True])], "True is not a int value"),
        (Annotated[float, Check(le=float("inf"))], "not a finite float"),
        (Annotated[dt.date, Check(ge=dt.datetime(2020, 1, 1))], "is not a date value"),
    ],
)
def test_unsupported_columns_are_named(ann: object, message: str) -> None:
    Bad = type("Bad", (Columns,), {"__annotations__": {"ok": int, "bad": ann}})
    with pytest.raises(UnsupportedType, match=r'Bad: column "bad": ') as info:
        schema_of(Bad)
    assert message in str(info.value)


def test_check_needs_a_constraint_and_a_collection() -> None:
    with pytest.raises(TypeError, match="at least one constraint"):
        Check()
    with pytest.raises(TypeError, match="not a single string"):
        Check(isin="abc")
    with pytest.raises(TypeError, match="no instances"):
        Every()


def test_table_formats_take_a_schema_once_and_are_cached() -> None:
    assert Parquet[Every] is Parquet[Every]
    assert issubclass(Parquet[Every], Parquet) and Parquet[Every].columns is Every
    assert Parquet[Columns] is Parquet and Parquet.columns is None
    assert format_key(CSV[Every]) == "typedflow.formats:CSV[Every]"
    assert format_lineage(TSV[Every]) == ("typedflow.formats:TSV", "typedflow.formats:Format")
    with pytest.raises(TypeError, match="already has the column schema"):
        Parquet[Every][Every]
    with pytest.raises(TypeError, match="takes a Columns subclass"):
        JSONL[int]  # type: ignore[type-var]
    with pytest.raises(TypeError):
        JSON[Every]  # type: ignore[misc]


def test_a_format_subclass_keeps_its_schema_and_lineage() -> None:
    class FeatureTable(Parquet[Every]):
        name = "features"

    t = type_ref(TypedFile[FeatureTable])
    assert t.schema == schema_of(Every)
    assert t.lineage[1:] == ("typedflow.formats:Parquet", "typedflow.formats:Format")
    assert render(t).endswith("FeatureTable]")
    assert render(type_ref(TypedDirectory[JSONL[Every]])) == "TypedDirectory[JSONL[Every]]"


def test_type_ref_carries_the_schema_and_bare_formats_none() -> None:
    t = type_ref(TypedFile[Parquet[Every]])
    assert t.kind == "file" and t.schema == schema_of(Every) and t.name == "typedflow.formats:Parquet[Every]"
    assert type_ref(TypedFile[Parquet]).schema is None
    assert type_ref(TypedFile).schema is None and type_ref(TypedFile[Format]).schema is None


def test_unsupported_column_reaches_the_type_ref() -> None:
    class Tagged(Columns):
        tags: list[str]

    with pytest.raises(UnsupportedType, match=r"TypedFile\[Parquet\[.*Tagged\]\]: .*Tagged: column \"tags\""):
        type_ref(TypedFile[Parquet[Tagged]])


def test_ir_round_trip_and_schema_json(tmp_path) -> None:
    from tests.tables import flows

    doc = flows.churn.ir
    text = codec.dumps(doc)
    again = codec.loads(text)
    assert again == doc
    ingest = again.task("ingest")
    assert ingest.outputs[0].type.schema == schema_of(flows.Raw)
    # A type without a schema has no "schema" key: documents without tables are unchanged.
    data = json.loads(text)
    n_param = next(p for p in data["tasks"][0]["inputs"] if p["name"] == "n")
    assert "schema" not in n_param["type"]


def test_ir_schema_rejects_a_bad_column_type() -> None:
    from tests.tables import flows
    from typedflow.errors import IRValidationError

    data = codec.to_data(flows.churn.ir)
    task = next(t for t in data["tasks"] if t["name"] == "ingest")
    task["outputs"][0]["type"]["schema"]["columns"][0]["type"] = "list"
    with pytest.raises(IRValidationError, match="columns"):
        codec.from_data(data)  # the schema refuses it before the digest is looked at
