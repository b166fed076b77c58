"""Atomic, durable file writes: temp file in the same directory, fsync, rename, fsync the directory."""

from __future__ import annotations

import os
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


def _create_temp(path: Path) -> tuple[int, str]:
    """A new temp file next to ``path``, created with mode 0666 less the umask, as ``open()`` would
    create ``path`` itself (``mkstemp`` makes every file 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name next to {path}")


def write_bytes(path: Path, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """``mode``: the file's permissions; by default those a new file gets (0666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
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
