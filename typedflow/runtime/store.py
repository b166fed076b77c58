"""Content-addressed artifact stores. Files are stored by sha256 and handed out read-only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from typedflow.canonical import canonical_bytes
from typedflow.runtime.atomic import fsync_dir, write_bytes

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def dir_manifest(root: Path) -> list[tuple[str, str]]:
    """(relative posix path, sha256) of every file under ``root``, sorted."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out.append((p.relative_to(root).as_posix(), file_sha256(p)))
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

    def get_json(self, key: str) -> Any | None:
        ...

    def put_json(self, key: str, data: Any) -> None:
        ...


class LocalStore:
    """A store in a local directory: ``objects/<ab>/<sha256>`` files, ``trees/<sha256>/`` directories,
    ``meta/<key>.json`` small JSON documents (cache entries, offloaded values)."""

    scheme = "file"

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root).absolute()
        self.durable = durable
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "trees").mkdir(parents=True, exist_ok=True)
        (self.root / "meta").mkdir(parents=True, exist_ok=True)

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
            staging = Path(tempfile.mkdtemp(dir=self.root / "trees", prefix=".in-"))
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

    def _meta(self, key: str) -> Path:
        safe = key.replace("/", "_").replace(":", "_")
        return self.root / "meta" / safe[:2] / f"{safe}.json"

    def get_json(self, key: str) -> Any | None:
        try:
            return json.loads(self._meta(key).read_bytes())
        except FileNotFoundError:
            return None

    def put_json(self, key: str, data: Any) -> None:
        write_bytes(self._meta(key), canonical_bytes(data), durable=self.durable)
