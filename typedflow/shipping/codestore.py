"""Where code lives in a store: ``<store>/code/<hex>.zip`` (bundles) and
``<store>/code/wheels/<sha256>/<wheel name>`` (the typedflow that stock containers install).

A :class:`CodeStore` writes and reads those keys: S3 (Step Functions), a local folder (a pipeline root
as a Vertex container sees it through its Cloud Storage mount, or kfp.local's folder), GCS (deploying
to Vertex). Everything read is bounded and verified by :mod:`.unpack` before use.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from typedflow.util.boundary import BoundaryError, check_digest, regular_file

from .bundle import Bundle
from .unpack import MAX_ZIP, default_cache, extract

MAX_WHEEL = 64 * 1024 * 1024


def bundle_key(digest: str) -> str:
    return f"code/{check_digest(digest, 'code bundle digest').removeprefix('sha256:')}.zip"


def wheel_key(sha256: str, name: str) -> str:
    return f"code/wheels/{sha256}/{name}"


class CodeStore(Protocol):
    def exists(self, key: str) -> bool: ...
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str, limit: int) -> bytes | None: ...


class LocalCode:
    """A folder (a local pipeline root, or ``/gcs/bucket/root`` inside a Vertex container)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def put(self, key: str, data: bytes) -> None:
        from typedflow.runtime.atomic import write_bytes

        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, data)

    def put_file(self, key: str, source: Path) -> None:
        """Copy ``source`` to ``key`` whole or not at all (readers never see a part), read-only: keys name
        content. The copy is made at the root, so a crash leaves no stray file inside a stored tree."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".in-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str, limit: int) -> bytes | None:
        path = self.root / key
        if not path.exists():
            return None
        st = regular_file(path, "code store")
        if st.st_size > limit:
            raise BoundaryError(f"{path}: {st.st_size:,} bytes, more than {limit:,}")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise BoundaryError(f"{path}: more than {limit:,} bytes")
        return data


class S3Code:
    """``s3://bucket/prefix`` (the Step Functions store)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.s3 = bucket, prefix.strip("/"), client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _missing(exc):
                return False
            raise
        return True

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType="application/zip")

    def get(self, key: str, limit: int) -> bytes | None:
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        if int(resp.get("ContentLength") or 0) > limit:
            raise BoundaryError(f"s3://{self.bucket}/{self._key(key)}: more than {limit:,} bytes")
        data: bytes = resp["Body"].read(limit + 1)
        if len(data) > limit:
            raise BoundaryError(f"s3://{self.bucket}/{self._key(key)}: more than {limit:,} bytes")
        return data


class GcsCode:
    """``gs://bucket/root`` (deploying to Vertex: the pipeline root), through google-cloud-storage."""

    def __init__(self, uri: str, client: Any = None) -> None:
        rest = uri.removeprefix("gs://")
        self.bucket_name, _, prefix = rest.partition("/")
        self.prefix = prefix.strip("/")
        if client is None:
            from google.cloud import storage  # type: ignore[import-untyped,unused-ignore,attr-defined]

            client = storage.Client()
        self.bucket = client.bucket(self.bucket_name)

    def _blob(self, key: str) -> Any:
        return self.bucket.blob(f"{self.prefix}/{key}" if self.prefix else key)

    def exists(self, key: str) -> bool:
        return bool(self._blob(key).exists())

    def put(self, key: str, data: bytes) -> None:
        self._blob(key).upload_from_string(data, content_type="application/zip")

    def put_file(self, key: str, source: Path) -> None:
        self._blob(key).upload_from_filename(str(source), content_type="application/octet-stream")

    def get(self, key: str, limit: int) -> bytes | None:
        blob = self._blob(key)
        if not blob.exists():
            return None
        data: bytes = blob.download_as_bytes(end=limit)
        if len(data) > limit:
            raise BoundaryError(f"gs://{self.bucket_name}/{key}: more than {limit:,} bytes")
        return data


def _missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("NoSuchKey", "404", "NotFound")


def publish(bundle: Bundle, store: CodeStore) -> tuple[str, bool]:
    """Upload ``bundle`` unless the store has it (content-addressed: once); (its key, whether uploaded)."""
    key = bundle_key(bundle.digest)
    if store.exists(key):
        return key, False
    store.put(key, bundle.zip_bytes())
    return key, True


def publish_wheel(store: CodeStore) -> tuple[str, bool]:
    """Upload the running typedflow's wheel unless the store has it; (its key, whether uploaded)."""
    from .selfwheel import wheel

    name, data, sha = wheel()
    key = wheel_key(sha, name)
    if store.exists(key):
        return key, False
    store.put(key, data)
    return key, True


_FETCH_LOCKS: dict[str, threading.Lock] = {}
_FETCH_GUARD = threading.Lock()


def fetch(digest: str, store: CodeStore, cache: Path | None = None) -> Path:
    """The verified, extracted folder of bundle ``digest`` (fetched from ``store`` into ``cache`` once)."""
    from .unpack import cached

    cache = cache or default_cache()
    with _FETCH_GUARD:
        lock = _FETCH_LOCKS.setdefault(digest, threading.Lock())
    with lock:  # threads of one worker fetch a bundle once
        found = cached(digest, cache)
        if found is not None:
            return found
        data = store.get(bundle_key(digest), MAX_ZIP)
        if data is None:
            raise BoundaryError(f"code bundle {digest} is not in the store ({bundle_key(digest)}): deploy uploads it")
        return extract(io.BytesIO(data), digest, cache)


def local_root(uri: str) -> Path:
    """A pipeline root as a Vertex container reads it: ``gs://b/r`` is ``/gcs/b/r`` (its Cloud Storage
    mount); a local path stays itself."""
    if uri.startswith("gs://"):
        return Path("/gcs/" + uri[len("gs://") :])
    return Path(uri.removeprefix("file://"))


__all__ = [
    "CodeStore",
    "GcsCode",
    "LocalCode",
    "S3Code",
    "bundle_key",
    "fetch",
    "local_root",
    "publish",
    "publish_wheel",
    "wheel_key",
]
