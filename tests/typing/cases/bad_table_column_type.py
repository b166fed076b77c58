"""A column with another type: no numeric widening between columns (an int column is not a float
column), and a column that may hold nulls is not a column without nulls."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV
from typedflow.tables import Columns


class Counts(Columns):
    user: str
    visits: int
    country: str | None


class Rates(Columns):
    user: str
    visits: float


class ByCountry(Columns):
    country: str


@task
def count(day: str) -> TypedFile[CSV[Counts]]:
    return TypedFile.new(".csv")


@task
def rate(data: TypedFile[CSV[Rates]]) -> float:
    return 0.0


@task
def per_country(data: TypedFile[CSV[ByCountry]]) -> int:
    return 0


@workflow
def report(day: str) -> float:
    counts = count(day=day)
    per_country(data=counts)  # E: arg-type
    return rate(data=counts)  # E: arg-type
