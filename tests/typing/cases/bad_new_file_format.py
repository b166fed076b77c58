"""`.new()` takes the format of the task's declared return type only when that is a handle: a new
file of another format, or one put into a record, needs its format spelled out."""

from typing import NamedTuple

from typedflow import TypedFile, task
from typedflow.formats import CSV, JSON


class Split(NamedTuple):
    train: TypedFile[CSV]
    test: TypedFile[CSV]


@task
def wrong_format(rows: int) -> TypedFile[CSV]:
    out = TypedFile[JSON].new(suffix=".json")
    return out  # E[mypy]: return-value


@task
def into_a_record(rows: int) -> Split:
    train = TypedFile.new(suffix=".csv")  # the return type is a record: no format to take
    test = TypedFile[CSV].new(suffix=".csv")
    return Split(train=train, test=test)  # E[mypy]: arg-type
