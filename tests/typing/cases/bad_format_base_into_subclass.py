"""A base format where a subclass is declared: only the other direction is allowed."""

from typedflow import TypedDirectory, TypedFile, task, workflow
from typedflow.formats import CSV, ONNX, Format


class ExcelCSV(CSV):
    name = "excel-csv"


@task
def export(n: int) -> TypedFile[CSV]:
    return TypedFile.new(".csv")


@task
def open_in_excel(f: TypedFile[ExcelCSV]) -> str:
    return f.uri


@task
def anything(n: int) -> TypedDirectory[Format]:
    return TypedDirectory.new()


@task
def serve(models: TypedDirectory[ONNX]) -> str:
    return models.uri


@workflow
def narrowing_format(n: int) -> str:
    open_in_excel(export(n))  # E: arg-type
    return serve(anything(n))  # E: arg-type
