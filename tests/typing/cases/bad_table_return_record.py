"""A workflow returning a NamedTuple whose table field lacks a column of the declared schema."""

from typing import NamedTuple

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int


class Scored(Columns):
    id: int
    score: float


class Out(NamedTuple):
    table: TypedFile[Parquet[Scored]]
    n: int


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@task
def size(path: str) -> int:
    return 0


@workflow
def scored_record(path: str) -> Out:
    return Out(table=ingest(path=path), n=size(path=path))  # E: arg-type
