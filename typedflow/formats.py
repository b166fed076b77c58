"""Artifact formats: classes, never strings, so static checkers see them as types.

A user format is a subclass of :class:`Format` (or of a built-in one, which makes it assignable
where the base is expected). ``Any`` is the root: ``TypedFile[Any]`` accepts every format.
"""

from __future__ import annotations

from typing import ClassVar


class Format:
    """Base of every artifact format. Subclasses set ``name`` (and optionally ``suffix``)."""

    name: ClassVar[str] = "any"
    suffix: ClassVar[str] = ""
    schema_title: ClassVar[str] = "system.Artifact"
    """The KFP/Vertex artifact schema this format maps to."""


Any = Format
"""``TypedFile[Any]``: a file of any format (equivalent to bare ``TypedFile``)."""


class CSV(Format):
    name = "csv"
    suffix = ".csv"
    schema_title = "system.Dataset"


class TSV(Format):
    name = "tsv"
    suffix = ".tsv"
    schema_title = "system.Dataset"


class Parquet(Format):
    name = "parquet"
    suffix = ".parquet"
    schema_title = "system.Dataset"


class JSON(Format):
    name = "json"
    suffix = ".json"


class JSONL(Format):
    name = "jsonl"
    suffix = ".jsonl"
    schema_title = "system.Dataset"


class Text(Format):
    name = "text"
    suffix = ".txt"


class Binary(Format):
    name = "binary"
    suffix = ".bin"


class ONNX(Format):
    name = "onnx"
    suffix = ".onnx"
    schema_title = "system.Model"


BUILTIN: tuple[type[Format], ...] = (Format, CSV, TSV, Parquet, JSON, JSONL, Text, Binary, ONNX)


def format_key(fmt: type[Format]) -> str:
    """Stable identity of a format class: ``module:Qualname``."""
    return f"{fmt.__module__}:{fmt.__qualname__}"


def format_lineage(fmt: type[Format]) -> tuple[str, ...]:
    """The format and its Format ancestors, most specific first (what it is assignable to)."""
    return tuple(format_key(c) for c in fmt.__mro__ if isinstance(c, type) and issubclass(c, Format))
