"""An :class:`~typedflow.runtime.store.ArtifactStore` over S3 (boto3), content-addressed.

Layout under ``s3://bucket/prefix``: ``objects/<ab>/<sha256>`` files, ``trees/<sha256>.json``
directory manifests, ``values/<sha256>.json`` offloaded values, ``meta/<key>.json`` cache entries,
``ir/<digest>.json`` workflow IR, ``lineage/<run>/<hash>.json`` lineage records,
``runs/<run>/failures/<node>.json`` the final failure of each node that failed, ``runs/<run>/failure.json`` the
first of them. Objects are written once
(``If-None-Match: *``) and never changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from typedflow.files import register_resolver
from typedflow.ir.canonical import canonical_bytes
from typedflow.runtime.capture import node_segment
from typedflow.runtime.store import IntegrityError, Verifier, dir_manifest, dir_sha256, file_sha256
from typedflow.util.boundary import BoundaryError, check_sha256, parse_json, safe_relpath

from .options import split_s3
from .protocol import MARK, REF


def stored_url(store: str, sha256: str, is_dir: bool) -> str:
    """The URI content with digest ``sha256`` has in the store ``s3://bucket/prefix`` (a pure function:
    the compiler writes it for constant files, which deploy uploads)."""
    bucket, prefix = split_s3(store)
    parts = ("trees", sha256) if is_dir else ("objects", sha256[:2], sha256)
    return f"s3://{bucket}/" + "/".join(p for p in (prefix, *parts) if p)


_CACHE_ROOT = Path(os.environ.get("TYPEDFLOW_S3_CACHE", Path(tempfile.gettempdir()) / "typedflow-s3-cache"))
_LOCK = threading.Lock()
_OPEN: dict[str, S3Store] = {}  # store URI -> the latest store opened for it, the latest last


def _client(client: Any = None) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("s3")


def _missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("NoSuchKey", "404", "NotFound")


def _exists_already(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("PreconditionFailed", "ConditionalRequestConflict", "412")


def _fetch(uri: str, sha256: str, is_dir: bool) -> Path:
    """The ``s3`` resolver: a handle is fetched by the store it lies in (the deepest, and of one URI the latest
    opened), so a process that serves two stores (a worker per bucket, a test session with two engines) reads
    each handle from its own; one in no open store is refused by the latest opened."""
    with _LOCK:
        stores = list(_OPEN.values())
    owners = [s for s in stores if uri.startswith(s.uri + "/")]
    owner = max(owners, key=lambda s: len(s.uri)) if owners else stores[-1]
    return owner.fetch(uri, sha256, is_dir)


class S3Store:
    """Artifacts, offloaded values and cache entries in ``s3://bucket/prefix``."""

    scheme = "s3"

    def __init__(self, uri: str, client: Any = None, cache_dir: Path | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = split_s3(uri)
        self.s3 = _client(client)
        self.cache = Path(cache_dir) if cache_dir else _CACHE_ROOT
        self._values: dict[str, Any] = {}
        self.verifier = Verifier()
        self._digest_key: bytes | None = None
        with _LOCK:
            _OPEN.pop(self.uri, None)
            _OPEN[self.uri] = self
        register_resolver("s3", _fetch)

    # ------------------------------------------------------------------ keys
    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_once(self, key: str, body: bytes, content_type: str = "application/json") -> bool:
        """Write ``key`` unless it exists; whether this call wrote it."""
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*")
        except Exception as exc:
            if _exists_already(exc):
                return False
            raise
        return True

    def get_bytes(self, key: str) -> bytes | None:
        """The bytes of ``key`` in this store's bucket, or None when there is no such object."""
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        data: bytes = resp["Body"].read()
        return data

    def own_key(self, uri: str, what: str) -> str:
        """The key of ``uri`` if it lies in this store (its bucket, under its prefix)."""
        try:
            bucket, key = split_s3(uri)
        except ValueError:
            raise BoundaryError(f"{what}: {uri!r} is not an s3:// URI of the store {self.uri}") from None
        if bucket != self.bucket or not (not self.prefix or key.startswith(self.prefix + "/")):
            raise BoundaryError(f"{what}: {uri!r} is outside the store {self.uri}")
        return key

    # ------------------------------------------------------------------ ArtifactStore
    def put_file(self, path: Path) -> tuple[str, str]:
        sha = file_sha256(path)
        key = self.key("objects", sha[:2], sha)
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if not _missing(exc):
                raise
            self.s3.upload_file(str(path), self.bucket, key)
        return self.url(key), sha

    def put_dir(self, path: Path) -> tuple[str, str]:
        manifest = dir_manifest(path)
        sha = dir_sha256(manifest)
        for rel, _ in manifest:
            self.put_file(path / rel)
        self.put_once(self.key("trees", sha + ".json"), canonical_bytes([list(m) for m in manifest]))
        return self.url(self.key("trees", sha)), sha

    def _object_key(self, sha256: str, is_dir: bool) -> str:
        return self.key("trees", sha256) if is_dir else self.key("objects", sha256[:2], sha256)

    def locate(self, uri: str, sha256: Any, is_dir: bool) -> None:
        check_sha256(sha256, f"file handle {uri!r}")
        if uri != stored_url(self.uri, sha256, is_dir):
            raise BoundaryError(f"file handle {uri!r} does not name stored content of the store {self.uri}")

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path:
        """A local, read-only copy of stored content, cached by digest and verified against it: a copy
        that changed since is fetched again, and a download that does not match is never used."""
        self.locate(uri, sha256, is_dir)
        dest = self.cache / ("trees" if is_dir else "objects") / sha256
        if os.path.lexists(dest):
            try:
                (self.verifier.tree if is_dir else self.verifier.file)(dest, sha256, "cached artifact")
                return dest
            except IntegrityError:
                _remove(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not is_dir:
            self._download(self._object_key(sha256, False), sha256, dest)
            return dest
        raw = self.get_bytes(self._object_key(sha256, True) + ".json")
        if raw is None:
            raise BoundaryError(f"no directory manifest for {uri} in the store")
        manifest = _manifest(raw, uri)
        if dir_sha256(manifest) != sha256:
            raise IntegrityError(f"the directory manifest of {uri} does not match its digest")
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".in-"))
        try:
            for rel, sha in manifest:
                target = staging / rel
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:  # "a" and "a/b" both listed as files
                    raise BoundaryError(f"directory manifest of {uri}: cannot place {rel!r}: {exc}") from None
                self._download(self._object_key(sha, False), sha, target)
            try:
                os.replace(staging, dest)
            except OSError:  # another thread fetched the same tree first
                pass
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return dest

    def _download(self, key: str, sha256: str, dest: Path) -> None:
        """Download ``key`` to ``dest`` only if its bytes have digest ``sha256``."""
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".in-")
        os.close(fd)
        tmp = Path(name)
        try:
            self.s3.download_file(self.bucket, key, str(tmp))
            actual = file_sha256(tmp)
            if actual != sha256:
                raise IntegrityError(f"s3://{self.bucket}/{key} does not match its digest (got sha256 {actual})")
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()

    def check_after(self, path: Path, sha256: str, is_dir: bool) -> None:
        if not is_dir and self.verifier.unchanged(path):
            return
        try:
            (self.verifier.tree if is_dir else self.verifier.file)(path, sha256, "cached artifact")
        except IntegrityError:
            _remove(path)  # the next fetch downloads it again; the stored object itself never changed
            raise

    def digest_key(self) -> bytes:
        """The store's digest key, ``keys/digest.key`` in the bucket (made once): readers of the bucket can
        read it, as they can read every artifact; a record or an export alone never carries it."""
        if self._digest_key is None:
            key = self.key("keys", "digest.key")
            self.put_once(key, secrets.token_bytes(32), "application/octet-stream")
            raw = self.get_bytes(key)
            if raw is None or len(raw) != 32:
                raise BoundaryError(f"{self.url(key)} is not a digest key (32 bytes)")
            self._digest_key = raw
        return self._digest_key

    def _meta(self, key: str) -> str:
        return self.key("meta", re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".json")

    def get_json(self, key: str) -> Any | None:
        raw = self.get_bytes(self._meta(key))
        return None if raw is None else parse_json(raw, f"cache entry {key}")

    def put_json(self, key: str, data: Any) -> None:
        body = canonical_bytes(data)
        self.s3.put_object(Bucket=self.bucket, Key=self._meta(key), Body=body, ContentType="application/json")

    # ------------------------------------------------------------------ offloaded values
    def put_value(self, value: Any) -> dict[str, Any]:
        body = canonical_bytes(value)
        sha = hashlib.sha256(body).hexdigest()
        key = self.key("values", sha + ".json")
        self.put_once(key, body)
        return {MARK: REF, "uri": self.url(key), "sha256": sha, "bytes": len(body)}

    def get_value(self, marker: dict[str, Any]) -> Any:
        """An offloaded value of this store, checked against its digest."""
        sha = check_sha256(marker.get("sha256"), "offloaded value")
        uri = marker.get("uri")
        key = self.key("values", sha + ".json")
        if uri != self.url(key):
            raise BoundaryError(f"offloaded value {uri!r} is not the store's value {sha}")
        with _LOCK:
            if uri in self._values:
                return self._values[uri]
        raw = self.get_bytes(key)
        if raw is None:
            raise FileNotFoundError(f"offloaded value {uri} is missing")
        if hashlib.sha256(raw).hexdigest() != sha:
            raise IntegrityError(f"offloaded value {uri} does not match its sha256")
        value = parse_json(raw, f"offloaded value {uri}")
        with _LOCK:
            if len(self._values) > 256:
                self._values.clear()
            self._values[uri] = value
        return value

    # ------------------------------------------------------------------ IR, lineage, failures
    def ir_key(self, digest: str) -> str:
        return self.key("ir", digest.removeprefix("sha256:") + ".json")

    def put_ir(self, digest: str, text: str) -> str:
        key = self.ir_key(digest)
        self.put_once(key, text.encode("utf-8"))
        return self.url(key)

    def get_ir_text(self, digest: str) -> str | None:
        raw = self.get_bytes(self.ir_key(digest))
        return None if raw is None else raw.decode("utf-8")

    def put_node_failure(self, run_id: str, node: str, failure: dict[str, Any]) -> bool:
        """Keep the final failure of ``node`` in run ``run_id`` (the first one written stays)."""
        return self.put_once(
            self.key("runs", run_id, "failures", node_segment(node) + ".json"), canonical_bytes(failure)
        )

    def get_node_failure(self, run_id: str, node: str) -> dict[str, Any] | None:
        """The failure :meth:`put_node_failure` kept for ``node``, if any."""
        return self._failure(self.key("runs", run_id, "failures", node_segment(node) + ".json"), run_id)

    def put_first_failure(self, run_id: str, failure: dict[str, Any]) -> bool:
        return self.put_once(self.key("runs", run_id, "failure.json"), canonical_bytes(failure))

    def get_failure(self, run_id: str) -> dict[str, Any] | None:
        """The first final failure the runtime recorded in a run (``runs/<run>/failure.json``), if any."""
        return self._failure(self.key("runs", run_id, "failure.json"), run_id)

    def _failure(self, key: str, run_id: str) -> dict[str, Any] | None:
        raw = self.get_bytes(key)
        if raw is None:
            return None
        value = parse_json(raw, f"the failure of run {run_id}")
        return value if isinstance(value, dict) else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _manifest(raw: bytes, uri: str) -> list[tuple[str, str]]:
    """A directory manifest: sorted, distinct, confined relative paths with their digests."""
    data = parse_json(raw, f"directory manifest of {uri}")
    if not isinstance(data, list):
        raise BoundaryError(f"directory manifest of {uri}: not a list of [path, sha256] pairs")
    out: list[tuple[str, str]] = []
    for i, entry in enumerate(data):
        if not isinstance(entry, list) or len(entry) != 2:
            raise BoundaryError(f"directory manifest of {uri}: entry {i} is not a [path, sha256] pair")
        out.append((safe_relpath(entry[0], f"manifest entry {i}"), check_sha256(entry[1], f"manifest entry {i}")))
    if out != sorted(set(out)) or len({rel for rel, _ in out}) != len(out):
        raise BoundaryError(f"directory manifest of {uri}: paths are not sorted and distinct")
    return out
