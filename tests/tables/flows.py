"""Workflows over typed tables, run by the local interpreter, Step Functions and Vertex tests."""

from __future__ import annotations

from typing import Annotated

from typedflow import TypedDirectory, TypedFile, task, workflow
from typedflow.formats import CSV, Parquet
from typedflow.tables import Check, Columns


class Raw(Columns):
    id: Annotated[int, Check(unique=True)]
    age: Annotated[float, Check(ge=0, le=130)]
    country: str | None
    churned: bool


class Features(Columns):
    age: float
    churned: bool


def _rows(n: int) -> list[dict[str, object]]:
    return [{"id": i, "age": 20.0 + i, "country": None if i % 3 else "FR", "churned": i % 2 == 0} for i in range(n)]


def _write_unchecked(path: str, corrupt: str, n: int) -> None:
    """Rows written with pyarrow itself, bypassing write_table, so only the runtime can catch them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(n)
    table = pa.Table.from_pylist(rows)
    if corrupt == "age_type":
        table = table.set_column(1, "age", pa.array([str(r["age"]) for r in rows]))
    elif corrupt == "age_range":
        table = table.set_column(1, "age", pa.array([200.0 if i == 2 else r["age"] for i, r in enumerate(rows)]))
    elif corrupt == "missing":
        table = table.drop_columns(["churned"])
    elif corrupt == "null_id":
        table = table.set_column(0, "id", pa.array([None if i == 1 else r["id"] for i, r in enumerate(rows)]))
    pq.write_table(table, path)


@task
def ingest(n: int, corrupt: str = "") -> TypedFile[Parquet[Raw]]:
    out: TypedFile[Parquet[Raw]] = TypedFile.new(format=Parquet[Raw])
    if corrupt:
        _write_unchecked(out.uri, corrupt, n)
    else:
        out.write_table(_rows(n))
    return out


@task
def ingest_untyped(n: int, corrupt: str = "") -> TypedFile[Parquet]:
    out: TypedFile[Parquet] = TypedFile.new(".parquet")
    _write_unchecked(out.uri, corrupt, n)
    return out


@task
def train(data: TypedFile[Parquet[Features]]) -> float:
    table = data.read_table()
    ages: list[float] = table.column("age").to_pylist()
    return round(sum(ages) / len(ages), 3)


@workflow
def churn(n: int, corrupt: str = "") -> float:
    return train(data=ingest(n=n, corrupt=corrupt))


@workflow
def untyped_source(n: int, corrupt: str = "") -> float:
    return train(data=ingest_untyped(n=n, corrupt=corrupt))


@task
def export_csv(n: int, corrupt: str = "") -> TypedFile[CSV]:
    out: TypedFile[CSV] = TypedFile.new(".csv")
    header = "id,age,churned" if corrupt != "header" else "id,years,churned"
    lines = [header] + [f"{i},{20 + i},{'true' if i % 2 else 'false'}" for i in range(n)]
    if corrupt == "row":
        lines[4] = "3,thirty,true"
    with open(out.uri, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return out


@task
def mean_age(data: TypedFile[CSV[Features]]) -> float:
    frame = data.read_table()
    ages: list[float] = frame.column("age").to_pylist()
    return round(sum(ages) / len(ages), 3)


@workflow
def csv_flow(n: int, corrupt: str = "") -> float:
    return mean_age(data=export_csv(n=n, corrupt=corrupt))


@task
def shards(n: int, corrupt_at: int = -1) -> list[TypedFile[Parquet[Raw]]]:
    out: list[TypedFile[Parquet[Raw]]] = []
    for i in range(n):
        f: TypedFile[Parquet[Raw]] = TypedFile.new(".parquet")
        _write_unchecked(f.uri, "missing" if i == corrupt_at else "", 3)
        out.append(f)
    return out


@task
def shard_dir(n: int, corrupt_at: int = -1) -> TypedDirectory[Parquet[Raw]]:
    out: TypedDirectory[Parquet[Raw]] = TypedDirectory.new()
    for i in range(n):
        _write_unchecked(str(out / f"part-{i}.parquet"), "null_id" if i == corrupt_at else "", 3)
    return out
