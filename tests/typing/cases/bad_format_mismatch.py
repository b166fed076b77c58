"""TypedFile[Parquet] where TypedFile[CSV] is declared: formats are nominal."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV, Parquet


@task
def features(n: int) -> TypedFile[Parquet]:
    return TypedFile.new(".parquet")


@task
def row_count(table: TypedFile[CSV]) -> int:
    return 0


@workflow
def mismatch(n: int) -> int:
    f = features(n)
    return row_count(f)  # E: arg-type
