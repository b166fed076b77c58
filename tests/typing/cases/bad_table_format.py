"""The same schema in another format: formats stay nominal."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV, Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@task
def load(data: TypedFile[CSV[Raw]]) -> int:
    return 0


@workflow
def wrong_format(path: str) -> int:
    return load(data=ingest(path=path))  # E: arg-type
