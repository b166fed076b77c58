"""Column schemas: a producer with every column the consumer declares, same types, is accepted
(extra columns, any order, a column without nulls where an Optional one is declared); a format
without a schema meets any schema; a format subclass carries its schema."""

import datetime as dt
from decimal import Decimal
from typing import Annotated

from typedflow import TypedDirectory, TypedFile, task, workflow
from typedflow.formats import CSV, JSONL, Parquet
from typedflow.tables import Check, Columns


class Raw(Columns):
    id: Annotated[int, Check(unique=True)]
    country: str
    age: Annotated[float, Check(ge=0, le=130)]
    signup: dt.date
    seen: dt.datetime | None
    spend: Decimal
    churned: bool


class Features(Columns):
    churned: bool
    age: float
    seen: dt.datetime | None
    country: str | None


class Labels(Raw):
    label: int


class FeatureTable(Parquet[Features]):
    name = "feature-table"


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@task
def label(data: TypedFile[Parquet[Raw]]) -> TypedFile[Parquet[Labels]]:
    return TypedFile.new(".parquet")


@task
def features(data: TypedFile[Parquet[Features]]) -> TypedFile[FeatureTable]:
    return TypedFile.new(".parquet")


@task
def train(data: TypedFile[Parquet[Features]], extra: TypedFile[Parquet]) -> float:
    return 0.0


@task
def untyped_source(path: str) -> TypedFile[CSV]:
    return TypedFile.new(".csv")


@task
def typed_sink(rows: TypedFile[CSV[Features]]) -> int:
    return 0


@task
def shards(path: str) -> TypedDirectory[JSONL[Raw]]:
    return TypedDirectory.new()


@task
def count(shards: TypedDirectory[JSONL[Features]]) -> int:
    return 0


@workflow
def pipeline(path: str) -> float:
    raw = ingest(path=path)
    labelled = label(data=raw)
    table = features(data=labelled)
    count(shards=shards(path=path))
    typed_sink(rows=untyped_source(path=path))
    return train(data=table, extra=raw)
