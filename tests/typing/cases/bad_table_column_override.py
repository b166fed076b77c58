"""A schema subclass that declares a column of its base with another type: the subclass's column
replaces its base's for the column rule, while mypy, as for any attribute, reports the override."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int
    age: float


class Survey(Raw):
    age: float | None  # E[mypy]: assignment


class Ages(Columns):
    age: float | None


@task
def ingest(path: str) -> TypedFile[Parquet[Survey]]:
    return TypedFile.new(".parquet")


@task
def train(data: TypedFile[Parquet[Raw]]) -> float:
    return 0.0


@task
def mean(data: TypedFile[Parquet[Ages]]) -> float:
    return 0.0


@workflow
def churn(path: str) -> float:
    survey = ingest(path=path)
    mean(data=survey)
    return train(data=survey)  # E: arg-type
