"""A column schema's columns are its annotations: an unannotated class attribute, a ClassVar and a
method are not columns, for mypy as for the definition-time checker."""

from typing import ClassVar

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int
    age: float


class Features(Columns):
    age: float
    MAX_AGE = 130.0
    SOURCE: ClassVar[str] = "survey"

    @classmethod
    def describe(cls) -> str:
        return "ages"


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@task
def train(data: TypedFile[Parquet[Features]]) -> float:
    return Features.MAX_AGE


@workflow
def churn(path: str) -> float:
    return train(data=ingest(path=path))
