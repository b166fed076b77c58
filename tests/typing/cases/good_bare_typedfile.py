"""A bare TypedFile parameter accepts a file of any format."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet


@task
def features(n: int) -> TypedFile[Parquet]:
    return TypedFile.new(".parquet")


@task
def checksum(f: TypedFile) -> str:
    return f.sha256 or ""


@workflow
def any_format(n: int) -> str:
    return checksum(features(n))
