"""Typed tables: column schemas for table files, checked before anything runs and on the data.

::

    class Raw(Columns):
        id: Annotated[int, Check(unique=True)]
        age: float
        country: str | None

    @task
    def ingest(path: str) -> TypedFile[Parquet[Raw]]: ...

The rule between schemas is in :mod:`typedflow.tables.rule`; the checks on the data in
:mod:`typedflow.tables.check`; reading and writing with pyarrow (or pandas) in
:mod:`typedflow.tables.io`. This package imports no pyarrow until a file is checked or read.
"""

from __future__ import annotations

from typedflow.tables.columns import Check, Columns, SchemaError

__all__ = ["Check", "Columns", "SchemaError"]
