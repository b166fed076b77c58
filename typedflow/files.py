"""``TypedFile[F]`` / ``TypedDirectory[F]``: handles to artifacts of a known format.

A handle is a URI (local path, ``s3://``, ``gs://``) plus, once produced by a task, the sha256
of its content. Handles given to downstream tasks point at content-addressed, read-only copies.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, overload

import attrs

from typedflow.formats import Format
from typedflow.runtime.context import ATTEMPT
from typedflow.tables.columns import Columns

if TYPE_CHECKING:
    # PEP 696 default: a bare ``TypedFile`` means ``TypedFile[Format]`` (any format), also under
    # ``mypy --strict``. Only type checkers read this; at run time no default is needed.
    from typing_extensions import TypeVar

    F = TypeVar("F", bound=Format, covariant=True, default=Format)
else:
    from typing import TypeVar

    F = TypeVar("F", bound=Format, covariant=True)

G = TypeVar("G", bound=Format)  # the format a handle is given (from_path(p, format=CSV))

# scheme -> (uri, sha256, is_dir) -> verified local path. Stores register themselves for remote schemes,
# for reading outputs outside a task (inside one, the task's own store is used).
Resolver = Callable[[str, str, bool], Path]
_RESOLVERS: dict[str, Resolver] = {}


def register_resolver(scheme: str, resolver: Resolver) -> None:
    _RESOLVERS[scheme] = resolver


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head if sep else ""


def resolve_uri(uri: str, sha256: str | None, is_dir: bool) -> Path:
    """A local path with the content of ``uri``. Inside a running task, stored content (a handle with a
    sha256) comes from the task's own store, verified against its digest; otherwise the path itself,
    or a copy a registered store fetched."""
    attempt = ATTEMPT.get()
    if sha256 is not None and attempt is not None and attempt.store is not None:
        return attempt.fetch(uri, sha256, is_dir)
    scheme = _scheme(uri)
    if scheme in ("", "file"):
        return Path(uri[len("file://") :] if scheme else uri)
    resolver = _RESOLVERS.get(scheme)
    if sha256 is None:
        raise RuntimeError(f"{uri} has no content digest: only stored artifacts can be read from {scheme}://")
    if resolver is None:
        raise RuntimeError(f"no artifact store is configured for {scheme}:// URIs (reading {uri})")
    return resolver(uri, sha256, is_dir)


def _fresh(suffix: str, is_dir: bool) -> Path:
    attempt = ATTEMPT.get()
    base = attempt.scratch() if attempt is not None else None
    if is_dir:
        return Path(tempfile.mkdtemp(dir=base, prefix="dir-"))
    fd, name = tempfile.mkstemp(dir=base, suffix=suffix, prefix="file-")
    os.close(fd)
    return Path(name)


@attrs.frozen
class TypedFile(Generic[F]):
    """A file artifact of format ``F``; bare ``TypedFile`` accepts any format."""

    uri: str
    sha256: str | None = None
    format: type[Format] = Format

    @overload
    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> TypedFile[F]: ...

    @overload
    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, format: type[G]) -> TypedFile[G]: ...

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, format: type[Format] = Format) -> TypedFile[Any]:
        """A handle to an existing local file (its content is stored when the task returns, or, written as
        a constant in a workflow, recorded by content). Its format is ``format`` (for type checkers too),
        else the declared type's where it is passed (``TypedFile[Text].from_path(p)`` given to a
        ``TypedFile[Text]`` parameter)."""
        return cls(uri=os.fspath(Path(path).absolute()), format=format)

    @classmethod
    def new(cls, suffix: str = "", *, format: type[Format] = Format) -> TypedFile[F]:
        """A handle to a fresh empty file in the task's scratch space, to be written and returned.
        ``format``: what the file is (``Parquet[Raw]``): its suffix by default, and the schema
        :meth:`write_table` enforces."""
        return cls(uri=os.fspath(_fresh(suffix or format.suffix, is_dir=False)), format=format)

    def local_path(self) -> Path:
        """A local path to the content (downloaded on first use for remote URIs)."""
        return resolve_uri(self.uri, self.sha256, False)

    def open(self, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open like the built-in ``open`` (text by default). Stored content is read-only."""
        path = self.local_path()
        if self.sha256 is not None and any(c in mode for c in "wax+"):
            raise PermissionError(f"{self.uri} is stored, content-addressed output and cannot be written")
        return open(path, mode, **kwargs)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.local_path().read_text(encoding=encoding)

    def read_bytes(self) -> bytes:
        return self.local_path().read_bytes()

    def read_table(self, *, columns: type[Columns] | None = None, pandas: bool = False) -> Any:
        """The table (Parquet, CSV, TSV, JSONL) as a ``pyarrow.Table``, or with ``pandas=True`` a
        ``pandas.DataFrame``, every row checked against the column schema (``columns``, else the
        declared format's, as in ``TypedFile[Parquet[Raw]]``); a violation raises
        :class:`typedflow.tables.SchemaError`. Needs pyarrow (``pip install typedflow[tables]``)."""
        from typedflow.tables.io import read_table  # pyarrow's tables: an optional dependency

        return read_table(self.local_path(), self.format, columns=columns, pandas=pandas, shown=self.uri)

    def write_table(self, data: Any, *, columns: type[Columns] | None = None) -> None:
        """Write a ``pyarrow.Table``, ``pandas.DataFrame``, list of row dicts or dict of columns in
        this file's table format, checked against the column schema (``columns``, else the
        handle's format's: see :meth:`new`) first. Stored output cannot be written."""
        if self.sha256 is not None:
            raise PermissionError(f"{self.uri} is stored, content-addressed output and cannot be written")
        from typedflow.tables.io import write_table

        write_table(self.local_path(), self.format, data, columns=columns, shown=self.uri)

    def __fspath__(self) -> str:
        return os.fspath(self.local_path())


@attrs.frozen
class TypedDirectory(Generic[F]):
    """A directory artifact of format ``F``; iterating yields its files in sorted order."""

    uri: str
    sha256: str | None = None
    format: type[Format] = Format

    @overload
    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> TypedDirectory[F]: ...

    @overload
    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, format: type[G]) -> TypedDirectory[G]: ...

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, format: type[Format] = Format) -> TypedDirectory[Any]:
        """A handle to an existing local directory (see :meth:`TypedFile.from_path`)."""
        return cls(uri=os.fspath(Path(path).absolute()), format=format)

    @classmethod
    def new(cls) -> TypedDirectory[F]:
        """A fresh empty directory in the task's scratch space, to be filled and returned."""
        return cls(uri=os.fspath(_fresh("", is_dir=True)))

    def local_path(self) -> Path:
        return resolve_uri(self.uri, self.sha256, True)

    def files(self) -> list[TypedFile[Format]]:
        root = self.local_path()
        return [TypedFile(uri=os.fspath(p), format=Format) for p in sorted(root.rglob("*")) if p.is_file()]

    def __iter__(self) -> Iterator[TypedFile[Format]]:
        return iter(self.files())

    def __truediv__(self, name: str) -> Path:
        return self.local_path() / name

    def __fspath__(self) -> str:
        return os.fspath(self.local_path())
