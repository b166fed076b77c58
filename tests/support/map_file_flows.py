"""Workflows whose ``map_over`` bodies return files, folders and lists of them (KFP's ``dsl.Collected`` of
artifacts), and what reads those lists: a task, another map, a sub-workflow, a branch, an exit_handler
block. Run on every target by tests/semantics/test_map_files.py."""

from __future__ import annotations

from pathlib import Path

from typedflow import TypedDirectory, TypedFile, exit_handler, map_over, task, when, workflow
from typedflow.formats import CSV, Text


@task
def write(text: str) -> TypedFile[Text]:
    out = TypedFile[Text].new(suffix=".txt")
    Path(out).write_text(text, encoding="utf-8")
    return out


@task
def write_csv(text: str) -> TypedFile[CSV]:
    out = TypedFile[CSV].new(suffix=".csv")
    Path(out).write_text(f"text\n{text}\n", encoding="utf-8")
    return out


@task
def folder(text: str, copies: int) -> TypedDirectory[Text]:
    out = TypedDirectory[Text].new()
    for i in range(copies):
        (out / f"{i}.txt").write_text(f"{text}{i}", encoding="utf-8")
    return out


@task
def pieces(text: str) -> list[TypedFile[Text]]:
    """A file per character: a list of files from one task (a parameter, not an artifact list)."""
    made = []
    for ch in text:
        out = TypedFile[Text].new(suffix=".txt")
        Path(out).write_text(ch, encoding="utf-8")
        made.append(out)
    return made


@task
def joined(files: list[TypedFile[Text]]) -> str:
    return "|".join(f.read_text() for f in files)


@task
def joined_if_any(files: list[TypedFile[Text]] | None) -> str:
    return "none" if files is None else "|".join(f.read_text() for f in files)


@task
def joined_nested(groups: list[list[TypedFile[Text]]]) -> str:
    return "/".join("|".join(f.read_text() for f in g) for g in groups)


@task
def read(f: TypedFile) -> str:
    return f.read_text()


@task
def listing(d: TypedDirectory[Text]) -> str:
    return ",".join(sorted(p.read_text() for p in d.files()))


@task(cache=False)
def mark(marks: str, name: str) -> None:
    Path(marks, name).write_text(name, encoding="utf-8")


@workflow
def made(texts: list[str]) -> list[TypedFile[Text]]:
    """The collected files as the workflow's result."""
    return map_over(write, texts)


@workflow
def tables(texts: list[str]) -> list[TypedFile[CSV]]:
    """Files of a format whose Vertex artifact type is ``system.Dataset``."""
    return map_over(write_csv, texts)


@workflow
def collected(texts: list[str]) -> str:
    """A task reads the list of files a map wrote."""
    return joined(map_over(write, texts))


@workflow
def remapped(texts: list[str]) -> list[str]:
    """A map over the files a map wrote (an artifact iterator on Vertex), and the same through a sub-workflow."""
    return map_over(read, made(texts))


@workflow
def folders(texts: list[str]) -> list[str]:
    return map_over(listing, map_over(lambda t: folder(t, 2), texts))


@workflow
def lists_of_files(texts: list[str]) -> list[str]:
    """A body returning a task's list of files; a map over those lists."""
    return map_over(joined, map_over(pieces, texts))


@task
def characters(text: str) -> list[str]:
    return list(text)


@workflow
def nested(texts: list[str]) -> str:
    """A map whose body is a map of files: a list of lists of files. (The inner map iterates over a task's
    list: kfp.local gives a loop nested in a loop the inner item for every ``-loop-item`` input.)"""
    return joined_nested(map_over(lambda t: map_over(write, characters(t)), texts))


@workflow
def collected_of(files: list[TypedFile[Text]]) -> str:
    return joined(files)


@workflow
def through_sub(texts: list[str]) -> str:
    """The files a sub-workflow collected, given to another sub-workflow."""
    return collected_of(made(texts))


@workflow
def in_branch(texts: list[str], big: bool) -> str:
    """Files a map wrote inside a `when` branch, read after it (None when the branch did not run)."""
    with when(big):
        files = map_over(write, texts)
    return joined_if_any(files)


@workflow
def guarded(texts: list[str], marks: str) -> str:
    """Files a map wrote inside an exit_handler block, read after it, and in another block and a branch
    that read nothing else."""
    with exit_handler(mark, marks=marks, name="closed"):
        files = map_over(write, texts)
    with exit_handler(mark, marks=marks, name="read"):
        again = joined(files)
    with when(again == "never"):
        mark(marks, "never")
    return joined(files)
