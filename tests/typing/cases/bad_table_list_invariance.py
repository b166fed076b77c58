"""Lists are invariant: a list of tables with more columns is not a list of tables with fewer
(the task could put a table with fewer columns into it); each element of a mapped list meets the
rule, whether the task is mapped directly or called in a lambda."""

from typedflow import TypedFile, map_over, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Columns


class Raw(Columns):
    id: int
    age: float


class Features(Columns):
    age: float


class Labels(Columns):
    label: bool


@task
def shards(n: int) -> list[TypedFile[Parquet[Raw]]]:
    return []


@task
def merge(parts: list[TypedFile[Parquet[Features]]]) -> int:
    return 0


@task
def train(data: TypedFile[Parquet[Labels]]) -> float:
    return 0.0


@workflow
def sharded(n: int) -> list[float]:
    parts = shards(n=n)
    merge(parts=parts)  # E: arg-type
    map_over(lambda part: train(data=part), parts)  # E: arg-type
    return map_over(train, parts)  # E: arg-type
