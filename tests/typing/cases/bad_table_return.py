"""A workflow returning a table whose schema lacks a column of the declared one."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int


class Scored(Columns):
    id: int
    score: float


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@workflow
def scored(path: str) -> TypedFile[Parquet[Scored]]:
    return ingest(path=path)  # E: return-value
