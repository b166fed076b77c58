"""One column type, spelled many ways: Optional, Union, a string annotation, an alias,
Annotated metadata that is not a Check, a class imported by name. Both checkers see the same
columns."""

import datetime
import decimal
from datetime import date
from typing import Annotated, Optional, Union

from typedflow import TypedFile, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Check, Columns

Money = decimal.Decimal


class Written(Columns):
    id: "int"
    day: date
    at: Optional[datetime.datetime]  # noqa: UP045 - the spelling is the point
    price: Money
    note: Union[None, str]  # noqa: UP007, RUF036
    ok: Annotated[bool, "documentation, not a constraint"]


class Read(Columns):
    id: Annotated[int, Check(ge=0)]
    day: datetime.date
    at: datetime.datetime | None
    price: Annotated[decimal.Decimal, Check(ge=0)]
    note: Optional[Annotated[str, Check(isin=["a", "b"])]]  # noqa: UP045
    ok: bool


@task
def write(path: str) -> TypedFile[Parquet[Written]]:
    return TypedFile[Parquet[Written]].new(".parquet")


@task
def read(data: TypedFile[Parquet[Read]]) -> int:
    return 0


@workflow
def flow(path: str) -> int:
    return read(data=write(path=path))
