"""Only record fields can be read from an output: not methods or attributes of plain values."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV


@task
def name(n: int) -> str:
    return "x"


@task
def export(n: int) -> TypedFile[CSV]:
    return TypedFile.new(".csv")


@task
def use(label: str) -> None:
    pass


@workflow
def attributes(n: int) -> None:
    use(name(n).upper())  # E: attr-defined
    use(export(n).uri)  # E: attr-defined
