"""Content-addressed artifact stores. Files are stored by sha256 and handed out read-only.

Stored content is verified, not trusted: whatever is handed to a task or served from the cache is
checked against its digest first (see :class:`Verifier`), and a handle is only ever read from the
store that owns it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Protocol

from typedflow.ir.canonical import canonical_bytes, canonical_json
from typedflow.runtime.atomic import fsync_dir, write_all
from typedflow.util.boundary import BoundaryError, check_sha256, open_nofollow

log = logging.getLogger(__name__)


class IntegrityError(BoundaryError):
    """Stored content that no longer matches its digest (changed after it was stored)."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of a regular file's bytes (a FIFO or device is refused, never read)."""
    fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BoundaryError(f"{path} is not a regular file")
        return hashlib.file_digest(fh, "sha256").hexdigest()


def dir_manifest(root: Path) -> list[tuple[str, str]]:
    """(relative POSIX path, sha256) of every regular file under ``root``, sorted by path.
    Symlinks are not followed, so a stored tree cannot pull in content from outside it."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            if full.is_symlink() or not full.is_file():
                continue
            out.append((full.relative_to(root).as_posix(), file_sha256(full)))
    out.sort()
    return out


def dir_sha256(manifest: list[tuple[str, str]]) -> str:
    """A directory's digest: sha256 of the canonical JSON of its manifest."""
    return hashlib.sha256(canonical_bytes([list(m) for m in manifest])).hexdigest()


def _copy_hashing(src: Path, fd: int) -> str:
    """Copy regular file ``src`` into ``fd``; the hex sha256 of the bytes copied."""
    h = hashlib.sha256()
    with os.fdopen(open_nofollow(src, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise BoundaryError(f"{src} is not a regular file")
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
            write_all(fd, view[:n])
    return h.hexdigest()


_Stamp = tuple[int, int, int, int, int]


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Verifier:
    """Checks local copies of stored content against their digests. A file is hashed again only when
    its inode, size, mtime or ctime changed since it was last hashed in this process (any write
    changes ctime, which user code cannot set back)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[_Stamp, str]] = {}  # path -> (stamp, sha256) when last hashed
        self._lock = threading.Lock()

    def _sha(self, path: Path, what: str) -> str:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise IntegrityError(f"{what}: {path} is missing from the store") from None
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityError(f"{what}: {path} is not a regular file")
        stamp = _stamp(st)
        key = str(path)
        with self._lock:
            known = self._known.get(key)
        if known is not None and known[0] == stamp:
            return known[1]
        sha = file_sha256(path)
        with self._lock:
            if len(self._known) > 100_000:  # a bound for long-lived processes; forgetting costs a hash
                self._known.clear()
            self._known[key] = (stamp, sha)
        return sha

    def file(self, path: Path, sha256: str, what: str) -> None:
        """Raise :class:`IntegrityError` unless ``path`` is a regular file with digest ``sha256``."""
        actual = self._sha(path, what)
        if actual != sha256:
            raise IntegrityError(f"{what}: the content of {path} changed after it was stored (now sha256 {actual})")

    def tree(self, path: Path, sha256: str, what: str) -> None:
        """Raise :class:`IntegrityError` unless ``path`` holds exactly the tree of digest ``sha256``
        (regular files and directories only)."""
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise IntegrityError(f"{what}: {path} is not a directory")
        except FileNotFoundError:
            raise IntegrityError(f"{what}: {path} is missing from the store") from None
        entries = []
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames:
                if os.path.islink(os.path.join(dirpath, name)):
                    raise IntegrityError(f"{what}: a link was added to the stored directory {path}")
            for name in filenames:
                full = Path(dirpath, name)
                entries.append((full.relative_to(path).as_posix(), self._sha(full, what)))
        entries.sort()
        if dir_sha256(entries) != sha256:
            raise IntegrityError(f"{what}: the content of the stored directory {path} changed after it was stored")

    def known(self, path: Path, sha256: str) -> None:
        """Remember that ``path`` has digest ``sha256`` as it is now (its writer hashed what it wrote)."""
        st = os.lstat(path)
        with self._lock:
            self._known[str(path)] = (_stamp(st), sha256)

    def unchanged(self, path: Path) -> bool:
        """Whether the file at ``path`` still has the stamp it had when last hashed (a stat, no hash)."""
        try:
            stamp = _stamp(os.lstat(path))
        except FileNotFoundError:
            return False
        with self._lock:
            known = self._known.get(str(path))
        return known is not None and known[0] == stamp


def local_key(path: Path) -> bytes:
    """32 random bytes kept in ``path`` (mode 0600), made by whoever asks first."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process made one first: then use theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        fd = open_nofollow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        key = fh.read(64)
    if len(key) != 32:
        raise BoundaryError(f"{path} is not a digest key (32 bytes)")
    return key


class ArtifactStore(Protocol):
    """Where a target keeps artifacts, offloaded values and cache entries."""

    def put_file(self, path: Path) -> tuple[str, str]:
        """Store a local file; return (uri, sha256)."""
        ...

    def put_dir(self, path: Path) -> tuple[str, str]:
        """Store a local directory; return (uri, sha256)."""
        ...

    def locate(self, uri: str, sha256: Any, is_dir: bool) -> None:
        """Raise :class:`BoundaryError` unless ``uri`` names this store's copy of the content
        ``sha256`` (cheap: nothing is read)."""
        ...

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path:
        """A local path with the stored content ``sha256`` that ``uri`` names, verified against that
        digest (:class:`IntegrityError` when it changed); refused unless :meth:`locate` accepts it."""
        ...

    def check_after(self, path: Path, sha256: str, is_dir: bool) -> None:
        """Raise :class:`IntegrityError` if the local copy :meth:`fetch` gave out changed since (a task
        wrote to its input); the changed copy is taken out of use first."""
        ...

    def get_json(self, key: str) -> Any | None: ...

    def put_json(self, key: str, data: Any) -> None:
        """Store ``data`` under ``key``."""
        ...

    def digest_key(self) -> bytes:
        """This store's secret key for digests of sensitive values (made on first use, kept private)."""
        ...


META_RECHECK = 0.05
BUFFERED_ENTRIES = 64
# One line of meta.jsonl: its key when it is plain ASCII without escapes (all keys this module
# writes), the value's raw JSON, and the whole line for any other form.
_ENTRY = re.compile(rb'^(?:\{"k":"([^"\\\x80-\xff]*)","v":(.*)\}|(.*))$', re.M)


class LocalStore:
    """A store in a local directory: ``objects/<ab>/<sha256>`` files, ``trees/<sha256>/`` directories,
    ``meta.jsonl`` small JSON documents by key (cache entries)."""

    scheme = "file"

    def __init__(self, root: Path, *, durable: bool = True, buffered: bool = False) -> None:
        self.root = Path(root).absolute()
        self.durable = durable
        # Buffered: entries reach the file in groups (see write_buffered); one lost in a crash only
        # means its task runs again. For a caller that writes many, e.g. the local interpreter.
        self.buffered = buffered
        self._unwritten: list[bytes] = []
        # Directories are made on first write: a run whose inputs are rejected leaves nothing behind.
        self._meta: dict[str, Any] = {}
        self._meta_path = str(self.root / "meta.jsonl")  # looked at on every cache miss
        self._meta_offset = 0
        self._meta_own = 0  # bytes this process appended since the index was last read
        self._meta_fd = -1
        self._meta_checked = -META_RECHECK
        self._lock = threading.Lock()
        self.verifier = Verifier()
        self._digest_key: bytes | None = None

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def digest_key(self) -> bytes:
        if self._digest_key is None:
            self._digest_key = local_key(self.root / "keys" / "digest.key")
        return self._digest_key

    def _path(self, sha256: str, is_dir: bool) -> Path:
        return self.root / "trees" / sha256 if is_dir else self.object_path(sha256)

    def _intact(self, dest: Path, sha256: str, is_dir: bool) -> bool:
        """Whether ``dest`` exists and holds ``sha256``; a changed copy is quarantined (so a put repairs it)."""
        if not os.path.lexists(dest):
            return False
        try:
            (self.verifier.tree if is_dir else self.verifier.file)(dest, sha256, "stored artifact")
        except IntegrityError:
            self.quarantine(dest)
            return False
        return True

    def quarantine(self, path: Path) -> Path | None:
        """Move a changed stored copy out of the store's content (kept for inspection under
        ``quarantine/``); nothing will hand it out again, and the next put of that content restores it."""
        dest = self.root / "quarantine" / f"{path.name}.{time.time_ns()}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        except OSError as exc:
            log.warning("could not quarantine the changed artifact %s: %s", path, exc)
            return None
        log.warning("stored artifact %s had changed after it was stored; moved to %s", path, dest)
        return dest

    def locate(self, uri: str, sha256: Any, is_dir: bool) -> None:
        check_sha256(sha256, f"file handle {uri!r}")
        given = uri[len("file://") :] if uri.startswith("file://") else uri
        if given != str(self._path(sha256, is_dir)):
            raise BoundaryError(f"file handle {uri!r} does not name stored content of the store {self.root}")

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path:
        self.locate(uri, sha256, is_dir)
        path = self._path(sha256, is_dir)
        try:
            (self.verifier.tree if is_dir else self.verifier.file)(path, sha256, "stored artifact")
        except IntegrityError:
            if os.path.lexists(path):
                self.quarantine(path)
            raise
        return path

    def check_after(self, path: Path, sha256: str, is_dir: bool) -> None:
        if not is_dir and self.verifier.unchanged(path):
            return
        try:
            (self.verifier.tree if is_dir else self.verifier.file)(path, sha256, "stored artifact")
        except IntegrityError:
            if os.path.lexists(path):
                self.quarantine(path)
            raise

    def put_file(self, path: Path) -> tuple[str, str]:
        digest = file_sha256(path)
        dest = self.object_path(digest)
        if not self._intact(dest, digest, False):
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".in-")
            try:
                # Hashed as it is copied: the stored bytes are known to be the digest's (the source may
                # change in between), and the first hand-out in this process needs no second read.
                copied = _copy_hashing(path, fd)
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if copied != digest:
                os.unlink(tmp)
                raise BoundaryError(f"{path} changed while it was being stored")
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
            self.verifier.known(dest, digest)
            if self.durable:
                fsync_dir(dest.parent)
        return str(dest), digest

    def put_dir(self, path: Path) -> tuple[str, str]:
        manifest = dir_manifest(path)
        digest = dir_sha256(manifest)
        dest = self.root / "trees" / digest
        if not self._intact(dest, digest, True):
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".in-"))
            for rel, sha in manifest:
                self.put_file(path / rel)
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(self.object_path(sha), target)
                except OSError:
                    shutil.copyfile(self.object_path(sha), target)
                    os.chmod(target, 0o444)
            try:
                os.replace(staging, dest)
            except OSError:  # a concurrent writer stored the same tree first
                shutil.rmtree(staging, ignore_errors=True)
        return str(dest), digest

    # Small JSON documents (cache entries) live in one append-only log, indexed in memory:
    # a file per entry would cost an open/rename per task. O_APPEND keeps concurrent writers'
    # lines whole; a torn last line (crash) is ignored on read.
    def _load_meta(self) -> None:
        # Other processes' entries are looked for at most every META_RECHECK seconds: a map probes
        # all its items before the first entry exists, and an entry seen late only costs a re-run.
        now = time.monotonic()
        if now - self._meta_checked < META_RECHECK:
            return
        self._meta_checked = now
        path = self._meta_path
        try:
            # Our own descriptor when we have one: fstat skips the path lookup (this runs on every miss).
            size = os.fstat(self._meta_fd).st_size if self._meta_fd >= 0 else os.stat(path).st_size
        except OSError:  # none yet (or a link that leads nowhere): no entries
            return
        if size <= self._meta_offset + self._meta_own:
            return  # nothing but our own appends, which are already in the index
        try:
            fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(f"{path} is not a regular file")
            fh = os.fdopen(fd, "rb")
        except OSError as exc:  # a planted link, or a meta.jsonl gone since the stat: no entries
            log.warning("cannot read the store's cache entries %s: %s", path, exc)
            return
        with fh:
            fh.seek(self._meta_offset)
            chunk = fh.read(size - self._meta_offset)
        end = chunk.rfind(b"\n") + 1
        self._meta_own = 0  # re-reading covers our own lines too
        index = self._meta
        # Values stay raw bytes until looked up: a store holds many entries and a run reads few.
        for key, raw, line in _ENTRY.findall(chunk, 0, end):
            if raw:
                index[key.decode("ascii")] = raw
            else:  # not the plain form of a line this module writes: parse it whole
                try:
                    entry = json.loads(line)
                    index[entry["k"]] = entry["v"]
                except (ValueError, KeyError, TypeError, RecursionError):
                    continue  # a torn or foreign line
        self._meta_offset += end

    def get_json(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._meta:
                self._load_meta()
            value = self._meta.get(key)
            if type(value) is bytes:  # a raw entry (parsed JSON is never bytes)
                value = self._meta[key] = json.loads(value)
            return value

    def put_json(self, key: str, data: Any) -> None:
        value = canonical_json(data)
        line = f'{{"k":{encode_basestring_ascii(key)},"v":{value}}}\n'.encode("ascii")
        with self._lock:
            # Indexed as its JSON bytes, as entries read from the file are (parsed when looked up): a
            # store's index outlives the run in a long-lived process, and bytes are not containers the
            # garbage collector walks.
            self._meta[key] = value.encode("ascii")
            if self.buffered:
                self._unwritten.append(line)
                if len(self._unwritten) < BUFFERED_ENTRIES:
                    return
                line = b"".join(self._unwritten)
                self._unwritten.clear()
            self._write_meta(line)

    def write_buffered(self) -> None:
        """Hand the buffered entries to the OS (one write)."""
        with self._lock:
            if self._unwritten:
                data = b"".join(self._unwritten)
                self._unwritten.clear()
                self._write_meta(data)

    def check_entries(self) -> None:
        """Raise :class:`BoundaryError` when the cache entries' file is there but is not a regular file (a
        link, a folder, a FIFO): a run says so before its first task, not when it first stores an entry."""
        try:
            mode = os.lstat(self._meta_path).st_mode
        except OSError:  # none yet, or no store folder: writing says what is wrong with it
            return
        if stat.S_ISLNK(mode):
            raise BoundaryError(f"the store's cache entries {self._meta_path} are a symbolic link")
        if not stat.S_ISREG(mode):
            raise BoundaryError(f"the store's cache entries {self._meta_path} are not a regular file")

    def _write_meta(self, data: bytes) -> None:
        if self._meta_fd < 0:
            self.root.mkdir(parents=True, exist_ok=True)
            # O_NONBLOCK: a FIFO put in its place fails here instead of waiting for a reader forever
            fd = open_nofollow(self._meta_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise BoundaryError(f"the store's cache entries {self._meta_path} are not a regular file")
            os.set_blocking(fd, True)
            self._meta_fd = fd
        # A writer killed mid-write (a SIGKILL can cut a write of several pages short) leaves a line
        # without its end: ours start on a line of their own, or the first would be lost with it.
        size = os.fstat(self._meta_fd).st_size
        if size and os.pread(self._meta_fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(self._meta_fd, data)  # one write: O_APPEND keeps it whole beside other writers
        self._meta_own += len(data)

    def close(self) -> None:
        self.write_buffered()
        with self._lock:
            if self._meta_fd >= 0:
                if self.durable:
                    os.fsync(self._meta_fd)
                os.close(self._meta_fd)
                self._meta_fd = -1
