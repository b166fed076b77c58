"""TypedFile[CSV].from_path(p) is a TypedFile[CSV] for mypy, but the subscript is not seen at run time: at
definition time the file takes the format of the parameter it is given to, so only mypy reports a mismatch.
Give the format as from_path(p, format=CSV) to have both checkers see it (bad_constant_file_format)."""

from pathlib import Path

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV, Parquet

RAW = TypedFile[CSV].from_path(Path(__file__))


@task
def load(table: TypedFile[Parquet]) -> int:
    return 0


@workflow
def ingest() -> int:
    return load(RAW)  # E[mypy]: arg-type
