"""The run journal: what a run needs to be resumed after a crash.

``runs/<run_id>/`` holds the IR, the inputs, and ``journal.jsonl`` with one line per finished node
instance; a run that ended adds a line under the key ``RUN_END_KEY`` with its status, duration and
outputs (``status.json`` repeats it for readers). A line is copied into a shared memory mapping of
the file as its node finishes: it is then in the OS's page cache, so a SIGKILL loses nothing, without
a system call per node (the one system call a quick ``map_over`` item would otherwise make). The
file is allocated ahead in steps of ``CHUNK`` bytes, so while a run writes, or after it was killed,
the lines are followed by NUL bytes; the end of the run cuts them and fsyncs the file. Readers stop
at the first NUL (JSON text never holds one).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import json
import mmap
import os
import stat
import sys
import threading
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _s
from pathlib import Path
from typing import Any

from typedflow.ir.canonical import canonical_json
from typedflow.runtime.atomic import write_all, write_bytes
from typedflow.util.boundary import BoundaryError
from typedflow.util.timestamps import utcnow

from .reports import CACHED, SUCCEEDED, NodeReport

CHUNK = 1 << 20  # the file and its mapping grow by this many bytes at a time

RUN_END_KEY = "$run"  # the key of the line a run that ended adds (no node key starts with "$")


def _read(path: Path) -> bytes:
    """A journal file's bytes; never through a link, never a FIFO or a device (which could block forever)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BoundaryError(f"{path} is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _content(data: bytes) -> bytes:
    """The complete lines of a journal file's bytes: up to the first NUL, without a torn last line."""
    end = data.find(b"\0")
    if end >= 0:
        data = data[:end]
    return data[: data.rfind(b"\n") + 1]


_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _allocate(fd: int, offset: int, length: int) -> None:
    """Allocate, not only size: writing a page of a sparse file on a full disk is a SIGBUS, where this
    is an OSError before anything is lost. A file system that cannot allocate ahead gets a size."""
    try:
        os.posix_fallocate(fd, offset, length)
    except AttributeError:  # no posix_fallocate on this platform
        os.ftruncate(fd, offset + length)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise
        os.ftruncate(fd, offset + length)


_MADV_POPULATE_WRITE = 23  # Linux 5.14+


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    if sys.platform != "linux":
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _prefault(address: int, length: int) -> None:
    """Fault in the first pages of a new mapping for writing, without the GIL (a ctypes call): on
    ext4 the first write fault on a file costs ~0.3 ms, which a run's first finished node would
    otherwise wait for. Best effort: an older kernel refuses, and the first write faults as usual."""
    madvise = _madvise()
    if madvise is not None:
        madvise(address, length, _MADV_POPULATE_WRITE)


def _write_new(run_dir: Path, name: str, text: str) -> None:
    """Write a file of a run directory this process has just made: whole or not at all (temp file,
    rename), under a fixed temp name, since nothing else writes there."""
    tmp = run_dir / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        write_all(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    os.replace(tmp, run_dir / name)


_DONE = frozenset({SUCCEEDED, CACHED})


class Journal:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.path = run_dir / "journal.jsonl"
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._end = 0  # where the next line goes
        self._size = 0  # bytes allocated (and mapped)
        self._early: threading.Thread | None = None  # fsyncs the files written at creation
        self._early_error: OSError | None = None

    @staticmethod
    def create(run_dir: Path, ir_text: str, inputs: dict[str, Any], meta: dict[str, Any]) -> Journal:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(mode=0o700)  # its inputs may be sensitive: the run's files are its owner's only
        # A SIGKILL loses nothing the OS already has; these are fsynced when the run closes.
        for name, text in (
            ("ir.json", ir_text),
            ("inputs.json", canonical_json(inputs)),
            ("meta.json", canonical_json(meta)),
        ):
            _write_new(run_dir, name, text)
        journal = Journal(run_dir)
        journal._open()
        assert journal._map is not None
        view = ctypes.c_char.from_buffer(journal._map)
        address = ctypes.addressof(view)
        del view  # the mapping must not stay exported: growing it closes it
        # The first page's fault and the files' fsyncs overlap the run instead of delaying its first
        # task (close() waits for them).
        journal._early = threading.Thread(
            target=journal._sync_created, args=(address,), name="typedflow-journal-sync", daemon=True
        )
        journal._early.start()
        return journal

    def _sync_created(self, address: int) -> None:
        _prefault(address, mmap.PAGESIZE)
        try:
            self._fsync_files()
        except OSError as exc:
            self._early_error = exc

    def finished(self) -> dict[str, dict[str, Any]]:
        """Finished node instances by key; a torn last line (crash mid-write) is ignored."""
        done: dict[str, dict[str, Any]] = {}
        try:
            data = _content(_read(self.path))
        except FileNotFoundError:
            return done
        for line in data.splitlines():
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                break
            key = entry.get("key") if isinstance(entry, dict) else None
            if isinstance(key, str) and key != RUN_END_KEY:  # not of this shape: not ours, nothing finished
                done[key] = entry
        return done

    def ending(self) -> dict[str, Any] | None:
        """The line that ended the run (status, duration, outputs), or None if it has not ended."""
        try:
            data = _content(_read(self.path))
        except FileNotFoundError:
            return None
        end = None
        for line in data.splitlines():
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                break
            if isinstance(entry, dict) and entry.get("key") == RUN_END_KEY:
                end = entry
        return end

    def repair(self) -> None:
        """Cut a torn trailing line and the NULs after the lines (a killed run's), so appends start on a
        line boundary."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        keep = len(_content(data))
        if keep != len(data):
            os.truncate(self.path, keep)

    # As a run observer (see .reports.RunObserver): a task's success or cache hit is a line.
    def node_finished(self, report: NodeReport) -> None:
        if report.status in _DONE and report.task is not None and not report.handler and report.reason != "resumed":
            self.record(report.key, report.outputs, report.status)

    def progress(self, event: NodeReport) -> None:
        pass

    def waiting(self) -> None:
        pass

    def record(self, key: str, outputs: dict[str, Any], status: str) -> None:
        # canonical_json({"key": key, "outputs": outputs, "status": status}), its keys' order written out:
        # only the outputs go through the encoder.
        line = f'{{"key":{_s(key)},"outputs":{canonical_json(outputs)},"status":{_s(status)}}}\n'
        self._append(line.encode("ascii"))

    def _append(self, line: bytes) -> None:
        if self._map is None:
            self._open()
        start = self._end
        end = start + len(line)
        if end > self._size:
            self._grow(end)
        assert self._map is not None
        self._map[start:end] = line
        self._end = end

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        # A resumed run appends after the complete lines its first run left; what followed them (a torn
        # line, NULs) goes, so no fragment can outlast a shorter line written over it.
        self._end = len(_content(os.pread(self._fd, os.fstat(self._fd).st_size, 0)))
        os.ftruncate(self._fd, self._end)
        self._grow(self._end)

    def _grow(self, need: int) -> None:
        size = (need // CHUNK + 1) * CHUNK
        _allocate(self._fd, self._size, size - self._size)
        if self._map is not None:
            self._map.close()
        self._map = mmap.mmap(self._fd, size)
        self._size = size

    def finish(self, status: str, duration: float, outputs: dict[str, Any]) -> None:
        """End the run: its status, duration and outputs as the journal's last line, made durable by
        :meth:`close`; then ``status.json`` for readers. That copy is not fsynced (one journal commit
        less per run): after a power loss readers fall back on the journal's line."""
        # when it ended: a resumed run's duration is only its own part, its start the first part's
        end = {"duration": duration, "ended": utcnow(), "outputs": outputs, "status": status}
        self._append(canonical_json({**end, "key": RUN_END_KEY}).encode("ascii") + b"\n")
        self.close()
        write_bytes(
            self.dir / "status.json",
            canonical_json(end).encode("utf-8"),
            durable=False,
            mode=0o600,  # the outputs, like the inputs, are the run owner's only
        )

    def close(self) -> None:
        if self._early is not None:
            self._early.join()  # first: it may still be faulting in the mapping's first page
        if self._fd >= 0:
            if self._map is not None:
                self._map.close()  # its pages stay dirty in the page cache: the fsync below writes them
                self._map = None
            os.ftruncate(self._fd, self._end)
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._early is None:
            self._fsync_files()  # a resumed run: its first run may have been killed before they were durable
        elif self._early_error is not None:
            raise self._early_error

    def _fsync_files(self) -> None:
        for name in ("ir.json", "inputs.json", "meta.json"):
            try:
                fd = os.open(self.dir / name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class RunBusyError(Exception):
    """Another live process holds the run."""


class RunLock:
    """An exclusive lock on a run directory, held by the process that runs (or resumes) the run. The OS
    releases it when that process ends, however it ends, so a killed run can be resumed at once while a
    live one cannot be run twice."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "lock"
        self._fd = -1

    def acquire(self) -> None:
        """Take the lock; :class:`RunBusyError` while another process holds it, :class:`BoundaryError`
        when what is there is not a lock file (a link, a folder, a FIFO put in its place)."""
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                problem = "is a symbolic link" if exc.errno == errno.ELOOP else "is not a regular file"
                raise BoundaryError(f"{self.path} {problem}") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BoundaryError(f"{self.path} is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise RunBusyError(f"the run is still running in another process (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
