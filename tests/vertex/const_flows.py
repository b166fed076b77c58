"""Workflows that read files and folders written as constants in their bodies (run under kfp.local)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from typedflow import TypedDirectory, TypedFile, map_over, task, workflow
from typedflow.formats import Text

DATA = Path(__file__).parent / "data"
NOTES = TypedFile[Text].from_path(DATA / "notes.txt")
SHARDS = TypedDirectory.from_path(DATA / "shards")


class Read(NamedTuple):
    notes: str
    shards: list[str]
    lines: list[int]


@task
def read(f: TypedFile[Text]) -> str:
    return f.read_text()


@task
def listing(d: TypedDirectory) -> list[str]:
    root = d.local_path()
    return sorted(f"{p.relative_to(root).as_posix()}={p.read_text()}" for p in root.rglob("*") if p.is_file())


@task
def count_lines(f: TypedFile) -> int:
    return len(f.read_text().splitlines())


@workflow
def constants() -> Read:
    return Read(
        notes=read(NOTES),
        shards=listing(SHARDS),
        lines=map_over(lambda f: count_lines(f), [NOTES, NOTES]),
    )


@workflow
def notes_only() -> str:
    return read(NOTES)
