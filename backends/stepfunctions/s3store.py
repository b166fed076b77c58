"""An :class:`~typedflow.runtime.store.ArtifactStore` over S3 (boto3), content-addressed.

Layout under ``s3://bucket/prefix``: ``objects/<ab>/<sha256>`` files, ``trees/<sha256>.json``
directory manifests, ``values/<sha256>.json`` offloaded values, ``meta/<key>.json`` cache entries,
``ir/<digest>.json`` workflow IR, ``lineage/<run>/<hash>.json`` lineage records,
``runs/<run>/failure.json`` the first failure of a run. Objects are written once
(``If-None-Match: *``) and never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from typedflow.canonical import canonical_bytes
from typedflow.files import register_resolver
from typedflow.runtime.store import dir_manifest, dir_sha256, file_sha256

from .options import split_s3
from .protocol import MARK, REF

_CACHE_ROOT = Path(os.environ.get("TYPEDFLOW_S3_CACHE", Path(tempfile.gettempdir()) / "typedflow-s3-cache"))
_LOCK = threading.Lock()


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


class S3Store:
    """Artifacts, offloaded values and cache entries in ``s3://bucket/prefix``."""

    scheme = "s3"

    def __init__(self, uri: str, client: Any = None, cache_dir: Path | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = split_s3(uri)
        self.s3 = _client(client)
        self.cache = Path(cache_dir) if cache_dir else _CACHE_ROOT
        self._values: dict[str, Any] = {}
        register_resolver("s3", self.fetch)

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

    def get_bytes(self, key: str, bucket: str | None = None) -> bytes | None:
        try:
            resp = self.s3.get_object(Bucket=bucket or self.bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        data: bytes = resp["Body"].read()
        return data

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

    def fetch(self, uri: str, sha256: str | None, is_dir: bool) -> Path:
        """A local, read-only copy of ``uri`` (cached by content)."""
        bucket, key = split_s3(uri)
        tag = sha256 or hashlib.sha256(uri.encode()).hexdigest()
        dest = self.cache / ("trees" if is_dir else "objects") / tag
        if dest.exists():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not is_dir:
            tmp = Path(tempfile.mkstemp(dir=dest.parent, prefix=".in-")[1])
            self.s3.download_file(bucket, key, str(tmp))
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
            return dest
        raw = self.get_bytes(key + ".json", bucket)
        if raw is None:
            raise FileNotFoundError(f"no directory manifest at {uri}.json")
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".in-"))
        objects = key.rsplit("/trees/", 1)[0] + "/objects" if "/trees/" in key else "objects"
        for rel, sha in json.loads(raw):
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, f"{objects}/{sha[:2]}/{sha}", str(target))
        try:
            os.replace(staging, dest)
        except OSError:  # another thread fetched the same tree first
            pass
        return dest

    def _meta(self, key: str) -> str:
        return self.key("meta", re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".json")

    def get_json(self, key: str) -> Any | None:
        raw = self.get_bytes(self._meta(key))
        return None if raw is None else json.loads(raw)

    def put_json(self, key: str, data: Any, *, encoded: str | None = None) -> None:
        body = canonical_bytes(data) if encoded is None else encoded.encode("ascii")
        self.s3.put_object(Bucket=self.bucket, Key=self._meta(key), Body=body, ContentType="application/json")

    # ------------------------------------------------------------------ offloaded values
    def put_value(self, value: Any) -> dict[str, Any]:
        body = canonical_bytes(value)
        sha = hashlib.sha256(body).hexdigest()
        key = self.key("values", sha + ".json")
        self.put_once(key, body)
        return {MARK: REF, "uri": self.url(key), "sha256": sha, "bytes": len(body)}

    def get_value(self, marker: dict[str, Any]) -> Any:
        uri = marker["uri"]
        with _LOCK:
            if uri in self._values:
                return self._values[uri]
        bucket, key = split_s3(uri)
        raw = self.get_bytes(key, bucket)
        if raw is None:
            raise FileNotFoundError(f"offloaded value {uri} is missing")
        if marker.get("sha256") and hashlib.sha256(raw).hexdigest() != marker["sha256"]:
            raise ValueError(f"offloaded value {uri} does not match its sha256")
        value = json.loads(raw)
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

    def put_first_failure(self, run_id: str, failure: dict[str, Any]) -> bool:
        return self.put_once(self.key("runs", run_id, "failure.json"), canonical_bytes(failure))

    def get_failure(self, run_id: str) -> dict[str, Any] | None:
        raw = self.get_bytes(self.key("runs", run_id, "failure.json"))
        return None if raw is None else dict(json.loads(raw))
