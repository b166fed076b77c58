"""Content-addressed artifact stores. Files are stored by sha256 and handed out read-only."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Protocol

from typedflow.canonical import canonical_bytes, canonical_json
from typedflow.runtime.atomic import fsync_dir


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as fh:
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


class ArtifactStore(Protocol):
    """Where a target keeps artifacts, offloaded values and cache entries."""

    def put_file(self, path: Path) -> tuple[str, str]:
        """Store a local file; return (uri, sha256)."""
        ...

    def put_dir(self, path: Path) -> tuple[str, str]:
        """Store a local directory; return (uri, sha256)."""
        ...

    def fetch(self, uri: str, sha256: str | None, is_dir: bool) -> Path:
        """A local path with the content of ``uri``."""
        ...

    def get_json(self, key: str) -> Any | None: ...

    def put_json(self, key: str, data: Any, *, encoded: str | None = None) -> None:
        """Store ``data`` under ``key``; ``encoded``: its canonical JSON, when the caller has it."""
        ...


META_RECHECK = 0.05
BUFFERED_ENTRIES = 64
# The index of a closed store, by meta path: the next store of that path in this process takes it
# over and reads only what was appended since (a long-lived process, e.g. a test suite or a
# notebook, runs many workflows on one store). Checked by the bytes before its offset.
_HANDED_ON: collections.OrderedDict[str, tuple[bytes, int, dict[str, Any]]] = collections.OrderedDict()
_HANDED_ON_LOCK = threading.Lock()
_HANDED_ON_MAX = 4
_FINGERPRINT = 64
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
        self._own_tail = b""  # the last (up to _FINGERPRINT) of those bytes
        self._meta_fd = -1
        self._meta_checked = -META_RECHECK
        self._meta_fingerprint = b""  # the bytes of meta.jsonl just before _meta_offset
        self._adopted = False  # whether a closed store's index was looked for
        self._lock = threading.Lock()

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def put_file(self, path: Path) -> tuple[str, str]:
        digest = file_sha256(path)
        dest = self.object_path(digest)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".in-")
            os.close(fd)
            shutil.copyfile(path, tmp)
            if self.durable:
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
            if self.durable:
                fsync_dir(dest.parent)
        return str(dest), digest

    def put_dir(self, path: Path) -> tuple[str, str]:
        manifest = dir_manifest(path)
        digest = dir_sha256(manifest)
        dest = self.root / "trees" / digest
        if not dest.exists():
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

    def fetch(self, uri: str, sha256: str | None, is_dir: bool) -> Path:
        return Path(uri)

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
        except FileNotFoundError:
            return
        if size <= self._meta_offset + self._meta_own:
            return  # nothing but our own appends, which are already in the index
        with open(path, "rb") as fh:
            if not self._adopted:
                self._adopted = True
                self._adopt(fh, size)
            fh.seek(self._meta_offset)
            chunk = fh.read(size - self._meta_offset)
        end = chunk.rfind(b"\n") + 1
        self._meta_fingerprint = (self._meta_fingerprint + chunk[:end])[-_FINGERPRINT:]
        self._meta_own, self._own_tail = 0, b""  # re-reading covers our own lines too
        index = self._meta
        # Values stay raw bytes until looked up: a store holds many entries and a run reads few.
        for key, raw, line in _ENTRY.findall(chunk, 0, end):
            if raw:
                index[key.decode("ascii")] = raw
            else:  # not the plain form of a line this module writes: parse it whole
                try:
                    entry = json.loads(line)
                    index[entry["k"]] = entry["v"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn or foreign line
        self._meta_offset += end

    def _adopt(self, fh: Any, size: int) -> None:
        with _HANDED_ON_LOCK:
            handed = _HANDED_ON.pop(self._meta_path, None)
        if handed is None or self._meta_offset:
            return
        fingerprint, offset, index = handed
        if offset > size:
            return  # the file was cut: start over
        fh.seek(offset - len(fingerprint))
        if fh.read(len(fingerprint)) != fingerprint:
            return  # not the file that index was read from
        index.update(self._meta)  # what this store put before its first look-up
        self._meta, self._meta_offset, self._meta_fingerprint = index, offset, fingerprint

    def _hand_on(self, size: int) -> None:
        """``size``: meta.jsonl's size as this store closes it (-1: unknown)."""
        offset, fingerprint = self._meta_offset, self._meta_fingerprint
        if self._meta_own and size == offset + self._meta_own:  # only our own lines since the last read
            # The file's last bytes are the last this store wrote: no need to read them back.
            offset, fingerprint = size, (fingerprint + self._own_tail)[-_FINGERPRINT:]
        if offset == 0:
            return
        with _HANDED_ON_LOCK:
            _HANDED_ON[self._meta_path] = (fingerprint, offset, self._meta)
            _HANDED_ON.move_to_end(self._meta_path)
            while len(_HANDED_ON) > _HANDED_ON_MAX:
                _HANDED_ON.popitem(last=False)
        # This store starts over if it is used again: its index is another store's now.
        self._meta, self._meta_offset, self._meta_fingerprint = {}, 0, b""
        self._meta_own, self._own_tail, self._adopted, self._meta_checked = 0, b"", False, -META_RECHECK

    def get_json(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._meta:
                self._load_meta()
            value = self._meta.get(key)
            if type(value) is bytes:  # a raw entry (parsed JSON is never bytes)
                value = self._meta[key] = json.loads(value)
            return value

    def put_json(self, key: str, data: Any, *, encoded: str | None = None) -> None:
        value = canonical_json(data) if encoded is None else encoded
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

    def _write_meta(self, data: bytes) -> None:
        if self._meta_fd < 0:
            self.root.mkdir(parents=True, exist_ok=True)
            self._meta_fd = os.open(self._meta_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._meta_fd, data)  # one write: O_APPEND keeps it whole beside other writers
        self._meta_own += len(data)
        self._own_tail = (data if len(data) >= _FINGERPRINT else self._own_tail + data)[-_FINGERPRINT:]

    def close(self) -> None:
        self.write_buffered()
        with self._lock:
            size = -1
            if self._meta_fd >= 0:
                if self.durable:
                    os.fsync(self._meta_fd)
                size = os.fstat(self._meta_fd).st_size  # our descriptor: no path lookup
                os.close(self._meta_fd)
                self._meta_fd = -1
            self._hand_on(size)
