"""Flyte's StructuredDataset (flytesnacks ``data_types_and_io/structured_dataset.py``): typed data frames.

A data frame with declared columns is a typed table here: ``TypedFile[Parquet[People]]`` (Flyte's
``Annotated[StructuredDataset, kwtypes(Name=str, Age=int, Height=int)]``), checked before anything
runs (a consumer's columns must be the producer's) and on the data itself. ``get_subset`` returns only
the ``Age`` column, as the original's output annotation selects it; ``pandas_to_csv`` writes the same
table as a typed CSV. Not ported: the NumPy encoder/decoder (custom type transformers: typedflow's
values are a fixed set of typed-JSON types and files of a format) and the nested-column datasets of
``contacts_wf`` (a column is a scalar type; nested dicts and dataclasses are not column types).
"""

from __future__ import annotations

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV, Parquet
from typedflow.tables import Columns


class People(Columns):
    Name: str
    Age: int
    Height: int


class AgeOnly(Columns):
    Age: int


@task
def generate_df(a: int) -> TypedFile[Parquet[People]]:
    out: TypedFile[Parquet[People]] = TypedFile.new(format=Parquet[People])
    out.write_table({"Name": ["Tom", "Joseph"], "Age": [a, 22], "Height": [160, 178]})
    return out


@task
def get_subset(df: TypedFile[Parquet[People]]) -> TypedFile[Parquet[AgeOnly]]:
    ages = df.read_table().column("Age").to_pylist()
    out: TypedFile[Parquet[AgeOnly]] = TypedFile.new(format=Parquet[AgeOnly])
    out.write_table({"Age": [*ages, 30]})
    return out


@workflow
def simple_sd_wf(a: int = 19) -> TypedFile[Parquet[AgeOnly]]:
    return get_subset(generate_df(a))


@task
def pandas_to_csv(df: TypedFile[Parquet[People]]) -> TypedFile[CSV[People]]:
    out: TypedFile[CSV[People]] = TypedFile.new(format=CSV[People])
    out.write_table(df.read_table())
    return out


@workflow
def pandas_to_csv_wf() -> TypedFile[CSV[People]]:
    return pandas_to_csv(generate_df(19))


def ref_simple_sd_wf(a: int = 19) -> dict[str, list[int]]:
    return {"Age": [a, 22, 30]}


def ref_pandas_to_csv_wf() -> dict[str, list[object]]:
    return {"Name": ["Tom", "Joseph"], "Age": [19, 22], "Height": [160, 178]}
