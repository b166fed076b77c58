"""Content digests of files and directories, as stored in ``ValueRef.sha256``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from typedflow.canonical import canonical_bytes, sha256_hex

__all__ = ["file_uri", "sha256_file", "sha256_path", "sha256_tree"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_tree(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the canonical JSON list of [relative POSIX path, file sha256], sorted by path.

    Only regular files count; symlinks are not followed, so a tree cannot pull in outside content.
    """
    root = Path(path)
    entries: list[list[str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            if full.is_symlink() or not full.is_file():
                continue
            entries.append([full.relative_to(root).as_posix(), sha256_file(full)])
    entries.sort()
    return sha256_hex(canonical_bytes(entries))


def sha256_path(path: str | os.PathLike[str]) -> str:
    """:func:`sha256_tree` for a directory, :func:`sha256_file` otherwise."""
    return sha256_tree(path) if Path(path).is_dir() else sha256_file(path)


def file_uri(path: str | os.PathLike[str]) -> str:
    """``file://`` URI of the absolute path."""
    return Path(path).absolute().as_uri()
