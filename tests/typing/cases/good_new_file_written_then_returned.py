"""A new file or directory made with `.new()`, written, then returned: its format is the one the
task declares it returns (mypy with the plugin; pyright needs `TypedFile[CSV].new(...)`)."""

from pathlib import Path

from typedflow import TypedDirectory, TypedFile, task, workflow
from typedflow.formats import CSV, JSONL, Format, Parquet


@task
def table(rows: int) -> TypedFile[CSV]:
    out = TypedFile.new(suffix=".csv")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("n\n" + "".join(f"{i}\n" for i in range(rows)))
    return out


@task
def maybe_table(rows: int) -> TypedFile[Parquet] | None:
    if rows == 0:
        return None
    out = TypedFile.new(suffix=".parquet")
    Path(out).write_bytes(b"PAR1")
    return out


@task
def shards(rows: int) -> TypedDirectory[JSONL]:
    out = TypedDirectory.new()
    (out / "part-0.jsonl").write_text("{}\n", encoding="utf-8")
    return out


@task
def explicit(rows: int) -> TypedFile[CSV]:
    out = TypedFile[CSV].new(suffix=".csv")  # the format spelled out: any checker accepts it
    Path(out).write_text("n\n", encoding="utf-8")
    return out


@task
def scratch(rows: int) -> int:
    tmp = TypedFile.new()  # not returned: any format
    keep: TypedFile[Format] = tmp
    return len(keep.uri)


@task
def count(data: TypedFile[CSV], parts: TypedDirectory[JSONL]) -> int:
    return len(data.read_text().splitlines()) + len(parts.files())


@workflow
def new_files(rows: int) -> int:
    maybe_table(rows)
    scratch(rows)
    explicit(rows)
    return count(table(rows), shards(rows))
