"""What a Vertex run's containers leave under the pipeline root for ``typedflow runs`` and ``start --wait``:
``typedflow/runs/<job>/outputs.json`` (the workflow's outputs), ``failure.json`` (the first failure that
was final, with its traceback) and ``logs/<node>/<attempt>.log`` (each attempt's output). Containers
write them through the ``/gcs/`` mount; readers read a ``gs://`` root with the Cloud Storage client, or
a local folder (kfp.local)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

from typedflow.runtime.capture import node_segment
from typedflow.util.boundary import BoundaryError, parse_json


def run_dir(root: str, job: str) -> str:
    return f"{root.rstrip('/')}/typedflow/runs/{quote(job, safe='')}"


def _write_new(path: Path, body: bytes) -> bool:
    """Write ``path`` only if it does not exist yet (the first writer wins); whether this one did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    return True


def keep_failure(base: Path, failure: dict[str, Any]) -> None:
    _write_new(base / "failure.json", json.dumps(failure, sort_keys=True).encode())


def keep_log(base: Path, node: str, attempt: int, text: str) -> None:
    _write_new(base / "logs" / node_segment(node) / f"{attempt}.log", text.encode("utf-8"))


def keep_outputs(base: Path, outputs: dict[str, Any], value: Any) -> None:
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".outputs.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"outputs": outputs, "value": value}, sort_keys=True), "utf-8")
    os.replace(tmp, base / "outputs.json")


class Reader:
    """Reads a run's files under a pipeline root: ``gs://`` (google-cloud-storage) or a local folder."""

    def __init__(self, root: str, project: str | None = None, client: Any = None) -> None:
        self.root = root.rstrip("/")
        self.project = project
        self._client = client

    def _gcs(self) -> Any:
        if self._client is None:
            from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

            self._client = storage.Client(project=self.project)
        return self._client

    def read(self, uri: str) -> bytes | None:
        if uri.startswith("gs://"):
            bucket, _, key = uri[5:].partition("/")
            blob = self._gcs().bucket(bucket).blob(key)
            try:
                data: bytes = blob.download_as_bytes()
            except Exception as exc:  # NotFound: nothing there
                if "404" in str(exc) or "NotFound" in type(exc).__name__:
                    return None
                raise
            return data
        # a local root (kfp.local): only a plain file, not through a link (a FIFO would block the read)
        try:
            fd = os.open(uri, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BoundaryError(f"{uri}: cannot be read as a run file ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise BoundaryError(f"{uri}: not a plain file")
            return fh.read()

    def list(self, prefix: str) -> list[str]:
        """The files under ``prefix`` (full URIs or paths), sorted."""
        if prefix.startswith("gs://"):
            bucket, _, key = prefix[5:].partition("/")
            return sorted(
                f"gs://{bucket}/{b.name}" for b in self._gcs().list_blobs(bucket, prefix=key.rstrip("/") + "/")
            )
        base = Path(prefix)
        if not base.is_dir() or base.is_symlink():
            return []
        return sorted(str(p) for p in base.rglob("*") if p.is_file() and not p.is_symlink())

    def json(self, uri: str) -> Any:
        """The JSON ``uri`` holds, None when there is nothing there; a file that is not JSON (or too large,
        nested too deeply, with NaN) raises :class:`BoundaryError` naming it: what the run's containers
        wrote may have been damaged or replaced since."""
        raw = self.read(uri)
        if raw is None:
            return None
        return parse_json(raw, uri)
