"""A file written as a constant without a format (from_path(p), on the bare class) takes the format of the
parameter it is given to, at definition time and for mypy (with the plugin it is a TypedFile[Any]); so does a
handle made the same way in a task and returned."""

from pathlib import Path

from typedflow import TypedDirectory, TypedFile, task, workflow
from typedflow.formats import CSV, Parquet

RAW = TypedFile.from_path(Path(__file__))
HERE = TypedDirectory.from_path(Path(__file__).parent)


@task
def clean(data: TypedFile[CSV]) -> int:
    return 0


@task
def load(table: TypedFile[Parquet]) -> int:
    return 0


@task
def listing(folder: TypedDirectory[Parquet]) -> int:
    return 0


@task
def wrap(path: str) -> TypedFile[CSV]:
    found = TypedFile.from_path(path)
    return found


@workflow
def ingest() -> int:
    clean(RAW)
    listing(HERE)
    return load(RAW)
