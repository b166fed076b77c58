"""Append-only, hash-chained JSON-Lines lineage log with group commit and crash repair."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import attrs

from typedflow.ir.canonical import canonical_bytes
from typedflow.lineage._chain import (
    Head,
    LineageIntegrityError,
    head_path,
    iter_lines_reverse,
    iter_raw_lines,
    line_fields,
    read_head,
)
from typedflow.lineage.encoding import Prepared, encode_record
from typedflow.lineage.record import GENESIS_HASH, LineageRecord, record_from_bytes
from typedflow.lineage.signing import Signer, checkpoint_line, configured_signer
from typedflow.lineage.verify_bundle import open_regular, parse_checkpoint
from typedflow.runtime.atomic import fsync_dir, start_write_back, write_all, write_bytes
from typedflow.util.timestamps import utcnow

__all__ = ["LineageIntegrityError", "LineageLog", "LineageRepairWarning", "TornFragment"]

# Longest a head file lags the records committed by a long stream of group commits.
HEAD_INTERVAL: Final = 1.0
# Least time between two background fdatasyncs of group commits (flush() and close() sync at once).
SYNC_INTERVAL: Final = 1.0
CONFIGURED: Final = "configured"  # LineageLog(signer=...): the key configured_signer() names, if any


class LineageLinkError(OSError):
    """A lineage log, or one of the files beside it, is a symbolic link: it is never written through one (a
    planted link must not redirect the records). ``filename`` names it."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ELOOP, "is a symbolic link", str(path))

    def __str__(self) -> str:
        return f"{self.filename} is a symbolic link; a lineage log and its files are never written through one"


def _open_nofollow(path: Path, flags: int) -> int:
    """``os.open`` of a file of the log that refuses a link at ``path`` with a :class:`LineageLinkError`."""
    try:
        return os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise LineageLinkError(path) from None
        raise


class LineageRepairWarning(UserWarning):
    """The log was repaired on open: a torn trailing fragment was set aside or the head rolled forward."""


@attrs.frozen
class TornFragment:
    """Bytes cut from the end of the log after a crash, kept in ``path``."""

    path: Path
    offset: int
    size: int


def _prepare(record: LineageRecord, origin: str) -> Prepared:
    # Encoded outside the lock; the chain fields are filled in at commit time.
    return encode_record(record if record.log_origin else attrs.evolve(record, log_origin=origin))


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _parses(line: bytes) -> bool:
    try:
        if not isinstance(json.loads(line), dict):
            return False
        line_fields(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False
    return True


class LineageLog:
    """An append-only lineage log. ``append`` buffers; every ``flush_every`` records are committed.

    Records get ``seq`` and ``prev_hash`` (hex sha256 of the previous line) when committed; a
    head file ``<log>.head`` names the last committed record as of the last ``flush()``/``close()``
    (a group commit also moves it once ``HEAD_INTERVAL`` seconds have passed since it last moved):
    a head behind the log is a normal state, rolled forward when the record it names is intact.
    Several processes may append to the same file: commits are serialised with ``flock`` and each
    re-reads the tail another process may have written. A group is chained and written by the
    caller, so a killed process loses none of it; a sync thread fdatasyncs what was written at most
    every ``SYNC_INTERVAL`` seconds (one fdatasync covers all groups since the last), so group
    commits never wait for the disk. ``flush()`` and ``close()`` return only when everything
    appended so far is durable.

    With a ``signer`` (by default the key :func:`~typedflow.lineage.signing.configured_signer`
    names), every group is followed by a signed checkpoint in ``<log>.checkpoints``: the records
    this process appended and the hash the chain ends with. Repairs made on open are noted in
    ``<log>.repairs``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_every: int = 100,
        fsync: bool = True,
        signer: Signer | str | None = CONFIGURED,
    ) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be >= 1")
        self.signer: Signer | None = configured_signer() if isinstance(signer, str) else signer
        self.path = Path(path).absolute()  # later chdir() must not move the log
        self.checkpoints_path = self.path.with_name(self.path.name + ".checkpoints")
        self.repairs_path = self.path.with_name(self.path.name + ".repairs")
        self._cp_fd = -1
        self._cp_dirty = False
        self.flush_every = flush_every
        self.fsync = fsync
        self.repaired: list[TornFragment] = []
        self.notes: list[str] = []
        self.commits = 0
        self.fsyncs = 0
        self._origin = str(self.path)
        self._staged_head = self.path.with_name(self.path.name + ".head.tmp")  # only the lock holder writes it
        self._init_state()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._pid = -1
        self._closed = False
        self._dir_dirty = False
        self._open()

    def _init_state(self) -> None:
        self._cond = threading.Condition()  # guards _pending, _busy and the sync state below
        self._commit_lock = threading.Lock()  # one commit at a time per instance
        self._pending: list[Prepared] = []
        self._busy = False
        self._tail_seq = -1
        self._tail_hash = GENESIS_HASH
        self._seen: tuple[int, int, int] | None = None
        self._head_seq = -2  # the seq the head file names; -2: no head file
        self._head_synced = True  # False while the head this instance wrote may not be durable
        self._checked_head: Head | None = None  # a lagging head whose record was found intact
        self._head_time = time.monotonic()  # the interval runs from open: short runs write it at close only
        # Sync thread, by record seq (monotonic, unlike file offsets a repair may cut): records
        # up to _durable are durable, _requested is the last one written, _inflight the last one
        # an fdatasync in progress covers (-1: idle).
        self._thread: threading.Thread | None = None
        self._stop = False
        self._requested = -1
        self._inflight = -1
        self._durable = -1
        self._sync_error: BaseException | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def head(self) -> Head:
        """Head as of this instance's last commit or sync."""
        return Head(seq=self._tail_seq, hash=self._tail_hash, count=self._tail_seq + 1)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    @property
    def origin(self) -> str:
        """What records first written here carry as ``log_origin``."""
        return self._origin

    def append(self, record: LineageRecord) -> None:
        """Buffer ``record``; its ``seq``/``prev_hash`` are assigned at commit."""
        self._check_open()
        self._buffer(_prepare(record, self._origin))

    def append_prepared(self, *prepared: Prepared) -> None:
        """Buffer records already encoded by a :class:`~typedflow.lineage.stencil.TaskStencil` made
        for this log's :attr:`origin`, in order (a caller that gathers them hands over a group at once)."""
        self._check_open()
        if len(prepared) == 1:
            self._buffer(prepared[0])
            return
        with self._cond:
            self._pending.extend(prepared)
            full = len(self._pending) >= self.flush_every
        if full:
            self._flush(head=False)

    def _buffer(self, prepared: Prepared) -> None:
        with self._cond:
            self._pending.append(prepared)
            full = len(self._pending) >= self.flush_every
        if full:
            self._flush(head=False)

    def write_buffered(self) -> int:
        """Chain and write the buffered records now, without waiting for the disk: a process killed
        afterwards loses none of them. Their fdatasync is asked of the sync thread (it covers them
        with the next one it starts); ``flush()`` still waits for durability. For callers about to
        wait anyway, e.g. a scheduler whose running tasks have not finished."""
        self._check_open()
        with self._cond:
            if not self._pending:
                return 0
        return self._flush(head=False)

    def flush(self) -> int:
        """Commit everything buffered, make it durable and update the head.

        Returns the number of records written.
        """
        self._check_open()
        return self._flush(head=True)

    def _flush(self, *, head: bool) -> int:
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._raise_sync_error()
            batch, self._pending = self._pending, []
            if not batch and (not head or (self._head_seq == self._tail_seq and self._head_synced)):
                return 0
            self._busy = True
        try:
            if batch:
                self._commit_or_requeue(batch, head=head)
            else:
                self._refresh_head()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return len(batch)

    def close(self) -> None:
        """Flush and release the file; further appends raise."""
        if self._closed:
            return
        try:
            if self._pid == os.getpid():
                self.flush()
                if self.fsync and self._dir_dirty:
                    fsync_dir(self.path.parent)
                    self._dir_dirty = False
        finally:
            self._closed = True
            self._stop_thread()
            os.close(self._fd)
            if self._cp_fd >= 0:
                os.close(self._cp_fd)
                self._cp_fd = -1

    def records(self) -> Iterator[tuple[LineageRecord, str]]:
        """Committed records in log order with their hashes (flushes first)."""
        self.flush()
        for _, line in iter_raw_lines(self.path):
            yield record_from_bytes(line), hashlib.sha256(line).hexdigest()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- durability ----------------------------------------------------------------------------

    def _raise_sync_error(self) -> None:
        # Called with _cond held. A failed fdatasync may have lost written pages that later
        # groups are chained to: the log stays unusable for this instance (reopen to repair).
        if self._sync_error is not None:
            raise LineageIntegrityError(
                f"{self.path}: fdatasync failed; records after seq {self._durable} may not be durable"
            ) from self._sync_error

    def _sync_later(self, end: int) -> None:
        """Have the sync thread fdatasync records up to seq ``end`` (within ``SYNC_INTERVAL``)."""
        with self._cond:
            self._raise_sync_error()
            self._requested = max(self._requested, end)
            if self._thread is None:
                self._thread = threading.Thread(target=self._syncer, name="lineage-fsync", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _sync_now(self, end: int) -> None:
        os.fdatasync(self._fd)
        self._sync_checkpoints()
        self._synced(end)

    def _sync_checkpoints(self) -> None:
        # After the records they sign: a checkpoint that survives a crash its records did not would
        # name records that are missing.
        if self._cp_dirty:
            self._cp_dirty = False
            os.fdatasync(self._cp_fd)

    def _synced(self, end: int) -> None:
        with self._cond:
            self.fsyncs += 1
            self._durable = max(self._durable, end)
            self._cond.notify_all()

    def _syncer(self) -> None:
        fd = self._fd
        last = time.monotonic() - SYNC_INTERVAL  # the first group is synced at once
        while True:
            with self._cond:
                while not self._stop and self._requested <= self._durable:
                    self._cond.wait()
                if self._requested <= self._durable:
                    return
                # Paced: an fdatasync makes the file system commit its journal, which stalls every
                # appending write on it (the run's journal, cache entries, the next group) meanwhile.
                due = last + SYNC_INTERVAL
                now = time.monotonic()
                while not self._stop and now < due:
                    self._cond.wait(due - now)
                    now = time.monotonic()
                if self._stop:
                    return  # close() has made everything durable
                target = self._inflight = self._requested
            last = time.monotonic()
            try:
                os.fdatasync(fd)
                self._sync_checkpoints()
            except BaseException as exc:
                with self._cond:
                    self._sync_error = exc
                    self._inflight = -1
                    self._cond.notify_all()
                return
            with self._cond:
                self._inflight = -1
            self._synced(target)

    def _stop_thread(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        thread.join()
        self._thread = None

    # -- commit ------------------------------------------------------------------------------

    def _commit_or_requeue(self, batch: list[Prepared], *, head: bool) -> None:
        try:
            sync_to = self._commit(batch, head=head)
        except BaseException:
            with self._cond:
                self._pending[:0] = batch
            raise
        if sync_to is not None:
            self._sync_later(sync_to)  # outside the flock: other writers need not wait for our disk

    def _commit(self, batch: list[Prepared], *, head: bool) -> int | None:
        """Chain and write ``batch``; returns the seq an fdatasync must still cover, if any."""
        with self._commit_lock, self._locked():
            stamp = self._stamp()
            if stamp != self._seen:
                self._sync()
                stamp = self._stamp()
            start = stamp[1]  # the file's size: where the group goes
            seq, prev = self._tail_seq, self._tail_hash
            first_seq = seq + 1
            parts: list[bytes] = []
            sha = hashlib.sha256
            for a, b, c in batch:
                seq += 1
                line = f"{a}{prev}{b}{seq}{c}".encode("ascii")
                prev = sha(line).hexdigest()
                parts.append(line)
            parts.append(b"")
            data = b"\n".join(parts)
            now = time.monotonic()
            # The head costs a second file, fsync and rename: it is written when asked for
            # (flush/close), for a new log, and otherwise at most every HEAD_INTERVAL seconds.
            # A new log's first head is not waited for: it is there so that the log of a run
            # killed before its end verifies; flush() and close() make it durable.
            first = not head and self._head_seq < -1
            new_head = (
                Head(seq=seq, hash=prev, count=seq + 1)
                if head or self._head_seq < -1 or now - self._head_time >= HEAD_INTERVAL
                else None
            )
            staged = self._staged_head
            cp_size = -1
            # Signed before the group is written (a KMS call is a network round trip): a process killed
            # while it signs leaves no records without their checkpoint, which nothing could sign later.
            cp = self._checkpoint(first_seq, seq, prev) if self.signer is not None else None
            try:
                if cp is not None:
                    cp_size = self._checkpoints_end()
                write_all(self._fd, data)
                if cp is not None:  # nothing between the two writes that a kill could fall in
                    write_all(self._cp_fd, cp)
                    self._cp_dirty = self.fsync
                if self.fsync:
                    # The fdatasync that makes the group durable later then mostly waits for a journal
                    # commit, not the write (a run's end waited ~1.3 ms for 1 MB of records, ~0.3 ms so).
                    start_write_back(self._fd, start, len(data))
                if new_head is not None:
                    # Stage the new head before the log fsync, so one journal commit covers both
                    # files; it only replaces the head after both are durable.
                    try:
                        tfd = _open_nofollow(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                    except LineageLinkError as exc:  # planted since the open: the records stand, the head lags
                        new_head = None
                        self._skip_head(f"{self.path}: head not updated: {exc}")
                if new_head is not None:
                    try:
                        write_all(tfd, new_head.to_bytes())
                        if self.fsync:
                            start_write_back(tfd)
                        if self.fsync and not first:
                            # fdatasync: the data and the file size, without timestamps.
                            self._sync_now(seq)
                            os.fdatasync(tfd)
                    finally:
                        os.close(tfd)
            except BaseException:
                # Never leave part of a group behind: the chain must only ever hold whole records.
                os.ftruncate(self._fd, start)
                if cp_size >= 0:
                    os.ftruncate(self._cp_fd, cp_size)
                raise
            self._tail_seq, self._tail_hash = seq, prev
            self._seen = self._stamp()
            self.commits += 1
            if new_head is None:
                return seq if self.fsync else None
            self._head_synced = not (first and self.fsync)
            try:
                # The directory entry of the new head is made durable at close(): if a crash loses
                # the rename, the records are still durable and the stale head is rolled forward.
                os.replace(staged, head_path(self.path))
                self._dir_dirty = True
                self._head_seq, self._head_time = seq, now
            except OSError as exc:
                # The group is durable; a stale head is rolled forward by the next commit or open.
                self._skip_head(f"{self.path}: head update failed after commit: {exc}")
        return seq if first and self.fsync else None

    def _skip_head(self, msg: str) -> None:
        self.notes.append(msg)
        warnings.warn(msg, LineageRepairWarning, stacklevel=3)

    def _checkpoint(self, start: int, seq: int, head: str) -> bytes:
        """The signed checkpoint line of records ``start..seq`` ending in ``head``."""
        assert self.signer is not None
        return checkpoint_line(self.signer, start, seq, head) + b"\n"

    def _write_checkpoint(self, start: int, seq: int, head: str) -> int:
        """Append a signed checkpoint (under the lock); returns the file's size before it."""
        return self._append_checkpoint(self._checkpoint(start, seq, head))

    def _checkpoints_end(self) -> int:
        """The size of the checkpoints file (opened for appending if it is not yet)."""
        if self._cp_fd < 0:
            self._cp_fd = _open_nofollow(self.checkpoints_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            self._dir_dirty = True
        return os.fstat(self._cp_fd).st_size

    def _append_checkpoint(self, line: bytes) -> int:
        """Append a checkpoint line (under the lock); returns the file's size before it."""
        size = self._checkpoints_end()
        try:
            write_all(self._cp_fd, line)
        except BaseException:
            os.ftruncate(self._cp_fd, size)
            raise
        self._cp_dirty = self.fsync
        return size

    def _refresh_head(self) -> None:
        """Point the head at the last record (committed by this or another process), once durable."""
        with self._commit_lock, self._locked():
            if self._stamp() != self._seen:
                self._sync()
            if self._head_seq != self._tail_seq or not self._head_synced:
                if self.fsync:
                    self._sync_now(self._tail_seq)
                self._write_head()

    def _write_head(self) -> None:
        head = Head(seq=self._tail_seq, hash=self._tail_hash, count=self._tail_seq + 1)
        write_bytes(head_path(self.path), head.to_bytes(), durable=self.fsync)
        self._head_seq, self._head_time = head.seq, time.monotonic()
        self._head_synced = True

    # -- open, lock, repair ---------------------------------------------------------------------

    def _open(self) -> None:
        # every file beside the log is refused at once if it is a link, not when a later commit writes it
        for beside in (head_path(self.path), self._staged_head, self.checkpoints_path, self.repairs_path):
            if os.path.islink(beside):
                raise LineageLinkError(beside)
        self._fd = _open_nofollow(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):  # a FIFO or a device holds no records to chain to
            os.close(self._fd)
            self._closed = True
            raise OSError(errno.EINVAL, "not a regular file, which a lineage log is", str(self.path))
        self._pid = os.getpid()
        self._seen = None
        try:
            with self._locked():
                self._sync()
        except BaseException:
            os.close(self._fd)
            self._closed = True
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("lineage log is closed")
        if self._pid != os.getpid():
            # A forked child shares the parent's open file description, and flock does not
            # exclude within one description: reopen, and drop records that are the parent's.
            self._init_state()
            os.close(self._fd)
            if self._cp_fd >= 0:
                os.close(self._cp_fd)
                self._cp_fd, self._cp_dirty = -1, False
            self._open()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _stamp(self) -> tuple[int, int, int]:
        st = os.fstat(self._fd)
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _sync(self) -> None:
        """Re-read the tail (under the lock), repairing a torn end and reconciling the head.

        Everything is checked before anything is changed: a log whose head names records that
        are not there raises without being touched.
        """
        try:
            head = read_head(self.path)
        except ValueError as exc:
            raise LineageIntegrityError(f"{head_path(self.path)}: unreadable head file: {exc}") from exc
        size = os.fstat(self._fd).st_size
        cut, (self._tail_seq, self._tail_hash) = self._plan_tail(head, size)
        end = cut if cut is not None else size
        note = self._check_head(head, end)
        self._check_checkpoints()
        self._head_seq = head.seq if head is not None else -2
        repairs: list[tuple[str, str]] = []
        if cut is not None:
            # Whole lines cut (not just an unterminated write): the tail was replaced by something
            # that is not a record.
            whole_lines = cut < self._last_newline(size)
            fragment = self._set_aside(cut, size)
            if whole_lines:
                repairs.append(("tail-cut", fragment))
        if note:
            self._write_head()
            self.notes.append(note)
            warnings.warn(note, LineageRepairWarning, stacklevel=4)
            repairs.append(("head-recreated", note))
        if repairs:
            self._note_repairs(repairs)
        self._seen = self._stamp()

    def _last_newline(self, size: int) -> int:
        """The offset just past the file's last newline (0 if none)."""
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            k = os.pread(self._fd, step, pos - step).rfind(b"\n")
            if k >= 0:
                return pos - step + k + 1
            pos -= step
        return 0

    def _check_checkpoints(self) -> None:
        """Refuse a log whose last checkpoint signs records it no longer has."""
        try:
            with open_regular(str(self.checkpoints_path)) as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 8192))
                tail = f.read()
        except FileNotFoundError:
            return
        except ValueError as exc:  # a FIFO in its place: reading it would wait forever
            raise LineageIntegrityError(f"{self.checkpoints_path}: {exc}; refusing to append") from None
        lines = tail.split(b"\n")
        lines.pop()  # a torn last line (or the empty string after the last newline)
        if not lines or (len(lines) == 1 and size > 8192):
            return
        try:
            cp = parse_checkpoint(json.loads(lines[-1]))
        except (ValueError, RecursionError):
            return  # verify names it; appending does not make it worse
        if not isinstance(cp, str) and cp.seq > self._tail_seq:
            raise LineageIntegrityError(
                f"{self.path}: a signed checkpoint names records up to seq {cp.seq} but the log ends at seq "
                f"{self._tail_seq}: {cp.seq - self._tail_seq} signed record(s) are missing; refusing to append"
            )

    def _note_repairs(self, repairs: list[tuple[str, str]]) -> None:
        """Record repairs durably; with a signer, seal the repaired state with a checkpoint."""
        try:
            with open_regular(str(self.checkpoints_path)) as f:
                written = f.read().count(b"\n")
        except (FileNotFoundError, ValueError):  # none, or not a file (refused when the log was opened)
            written = 0
        entries = b"".join(
            canonical_bytes(
                {"checkpoints": written, "detail": detail, "kind": kind, "seq": self._tail_seq, "time": utcnow()}
            )
            + b"\n"
            for kind, detail in repairs
        )
        fd = _open_nofollow(self.repairs_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            write_all(fd, entries)
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.signer is not None and self._tail_seq >= 0:
            self._write_checkpoint(self._tail_seq + 1, self._tail_seq, self._tail_hash)
            self._sync_checkpoints()

    def _plan_tail(self, head: Head | None, size: int) -> tuple[int | None, tuple[int, str]]:
        """(offset to cut a torn tail at or None, (seq, hash) of the last complete record)."""
        fd = self._fd
        end = 0  # just past the last newline
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            k = os.pread(fd, step, pos - step).rfind(b"\n")
            if k >= 0:
                end = pos - step + k + 1
                break
            pos -= step
        cut = end if end < size else None
        for off, line in iter_lines_reverse(fd, end, self.path):
            if _parses(line):
                seq, _ = line_fields(line)
                return cut, (seq, hashlib.sha256(line).hexdigest())
            line_hash = hashlib.sha256(line).hexdigest()
            if (cut is not None and cut < end) or (head is not None and head.hash == line_hash):
                # Only the very last line can be a torn write, and never one the head commits.
                raise LineageIntegrityError(
                    f"{self.path}: unparseable record at byte {off} is not a torn tail; refusing to repair"
                )
            cut = off
        return cut, (-1, GENESIS_HASH)

    def _set_aside(self, cut: int, size: int) -> str:
        torn = self.path.with_name(f"{self.path.name}.torn-{_timestamp()}")
        if torn.exists():
            torn = torn.with_name(f"{torn.name}-{os.getpid()}")
        moved = 0
        with open(torn, "xb") as f:
            while moved < size - cut:  # a piece at a time: the fragment may be far longer than any write
                piece = os.pread(self._fd, min(1 << 20, size - cut - moved), cut + moved)
                if not piece:
                    break
                f.write(piece)
                moved += len(piece)
            f.flush()
            os.fsync(f.fileno())
        os.ftruncate(self._fd, cut)
        os.fsync(self._fd)
        self.repaired.append(TornFragment(path=torn, offset=cut, size=moved))
        msg = f"{self.path}: moved a torn trailing fragment of {moved} bytes to {torn}"
        self.notes.append(msg)
        warnings.warn(msg, LineageRepairWarning, stacklevel=4)
        return msg

    def _check_head(self, head: Head | None, end: int) -> str:
        """Raise if the head names records the log lacks; return a note if it must be rewritten."""
        tail_seq, tail_hash = self._tail_seq, self._tail_hash
        if head is None:
            return f"{self.path}: head file was missing; recreated at seq {tail_seq}" if tail_seq >= 0 else ""
        if head.seq > tail_seq:
            raise LineageIntegrityError(
                f"{self.path}: log ends at seq {tail_seq} but its head commits seq {head.seq}: "
                f"{head.seq - tail_seq} record(s) are missing"
            )
        if head.seq == tail_seq:
            if head.hash != tail_hash:
                raise LineageIntegrityError(f"{self.path}: last record (seq {tail_seq}) does not match the head")
            return ""
        if head == self._checked_head:
            return ""
        # The head is behind (commits since the last head update, by this or another process, or
        # a crash before it). The records after it are chained to it: it is rolled forward by the
        # next head update if the record it names is intact.
        for _, line in iter_lines_reverse(self._fd, end, self.path):
            seq, _ = line_fields(line)
            if seq <= head.seq:
                if seq == head.seq and hashlib.sha256(line).hexdigest() == head.hash:
                    break
                raise LineageIntegrityError(f"{self.path}: record seq {head.seq} does not match the head")
        else:
            raise LineageIntegrityError(f"{self.path}: record seq {head.seq} named by the head is missing")
        self._checked_head = head
        return ""
