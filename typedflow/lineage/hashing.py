"""Content digests of files and directories, as stored in ``ValueRef.sha256``."""

from __future__ import annotations

import os
from pathlib import Path

from typedflow.runtime.store import dir_manifest, dir_sha256, file_sha256

__all__ = ["file_uri", "sha256_file", "sha256_path", "sha256_tree"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    return file_sha256(Path(path))


def sha256_tree(path: str | os.PathLike[str]) -> str:
    """A directory's digest, exactly as the artifact store computes it (one definition)."""
    return dir_sha256(dir_manifest(Path(path)))


def sha256_path(path: str | os.PathLike[str]) -> str:
    """:func:`sha256_tree` for a directory, :func:`sha256_file` otherwise."""
    return sha256_tree(path) if Path(path).is_dir() else sha256_file(path)


def file_uri(path: str | os.PathLike[str]) -> str:
    """``file://`` URI of the absolute path."""
    return Path(path).absolute().as_uri()
