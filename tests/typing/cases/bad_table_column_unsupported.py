"""A column type a table cannot hold (tracer only: for mypy any annotation is a type)."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Tagged(Columns):
    id: int
    tags: list[str]


@task
def tag(path: str) -> TypedFile[Parquet[Tagged]]:  # E[tracer]: typedflow-unsupported-type
    return TypedFile.new(".parquet")


@workflow
def tagging(path: str) -> None:
    tag(path=path)  # E[tracer]: typedflow-untyped
