"""Atomic, durable file writes: temp file in the same directory, fsync, rename, fsync the directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_FADV_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", None)


def start_write_back(fd: int, offset: int = 0, length: int = 0) -> None:
    """Start writing a file's dirty pages (``length`` bytes at ``offset``; 0: to the end) to disk,
    without waiting. Advice only: durability still comes from fsync.

    On Linux, POSIX_FADV_DONTNEED starts the write-back at once (it drops only clean pages), so an
    fsync or fdatasync much later mostly waits for a journal commit instead of the whole write."""
    if _FADV_DONTNEED is not None:
        try:
            os.posix_fadvise(fd, offset, length, _FADV_DONTNEED)
        except OSError:
            pass


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until all of ``data`` is written (a write may take part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def write_text(path: Path, text: str, *, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), durable=durable)
