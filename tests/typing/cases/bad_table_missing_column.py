"""A consumer's column the producer's schema lacks."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int
    age: float


class Features(Columns):
    age: float
    churned: bool


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@task
def train(data: TypedFile[Parquet[Features]]) -> float:
    return 0.0


@workflow
def churn(path: str) -> float:
    raw = ingest(path=path)
    return train(data=raw)  # E: arg-type
