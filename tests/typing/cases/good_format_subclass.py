"""Formats are nominal with subclassing: a subclass of CSV is accepted where CSV is declared."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV


class ExcelCSV(CSV):
    name = "excel-csv"


@task
def export(rows: int) -> TypedFile[ExcelCSV]:
    return TypedFile.new(".csv")


@task
def row_count(table: TypedFile[CSV]) -> int:
    return len(table.read_text().splitlines())


@workflow
def subclass_ok(rows: int) -> int:
    return row_count(export(rows))
