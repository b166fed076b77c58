"""A file written as a constant with a format of its own (from_path(p, format=Text)) is a file of that format:
given to a parameter of another format it is an error, for mypy and at definition time."""

from pathlib import Path

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet, Text

NOTES = TypedFile.from_path(Path(__file__), format=Text)


@task
def count_lines(notes: TypedFile[Text]) -> int:
    return len(notes.read_text().splitlines())


@task
def load(table: TypedFile[Parquet]) -> int:
    return 0


@workflow
def ingest() -> int:
    count_lines(NOTES)
    return load(NOTES)  # E: arg-type
