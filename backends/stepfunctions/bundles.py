"""Task code from bundles: fetched from the runtime's own store, verified, then imported.

A process that runs one bundle's tasks (an ECS or Batch container, a Lambda invocation, a bundle
process of the SQS worker) puts the bundle's verified folder first on ``sys.path``
(:func:`activate`). The SQS worker serves every deployed version at once, so it runs each bundle's
tasks in a process of its own (:func:`pooled`, see :mod:`typedflow.shipping.pool`).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from typedflow.shipping import imports
from typedflow.shipping.codestore import S3Code, fetch
from typedflow.shipping.pool import BundlePool
from typedflow.util.boundary import BoundaryError

from .protocol import CAUSE_LIMIT
from .s3store import S3Store

_LOCK = threading.Lock()
_POOLS: dict[tuple[str, bool], BundlePool] = {}


def folder_of(code: str, store: S3Store) -> Path:
    """The verified folder of bundle ``code`` from ``store`` (fetched once into the code cache)."""
    return fetch(code, S3Code(store.bucket, store.prefix, store.s3))


def activate(code: str, store: S3Store | None, folder: Path | None = None) -> Path:
    """Import this process's task modules from bundle ``code`` (see :mod:`typedflow.shipping.imports`)."""
    if folder is not None:
        return imports.activate(code, folder)
    assert store is not None
    return imports.activate(code, lambda: folder_of(code, store))


def active() -> str | None:
    return imports.active()


def _command(bucket: str, use_cache: bool, concurrency: int) -> Any:
    def argv(code: str, folder: Path) -> list[str]:
        cmd = [sys.executable, "-I", "-B", "-m", "typedflow.runtime", "stepfunctions", "serve-bundle"]
        cmd += ["--bucket", bucket, "--code", code, "--dir", str(folder), "--concurrency", str(concurrency)]
        return cmd + ([] if use_cache else ["--no-cache"])

    return argv


def pooled(
    raw: Any, code: str, store: S3Store, *, use_cache: bool = True, concurrency: int = 4, executor: str = "sqs"
) -> dict[str, Any]:
    """Run the request ``raw`` (which names bundle ``code``) in that bundle's process; the answer."""
    try:
        folder = folder_of(code, store)
    except BoundaryError as exc:
        return {"ok": False, "error": "typedflow.RequestError", "cause": str(exc)[:CAUSE_LIMIT]}
    with _LOCK:
        pool = _POOLS.get((store.uri, use_cache))
        if pool is None:
            pool = _POOLS[(store.uri, use_cache)] = BundlePool(_command(store.uri, use_cache, concurrency))
    return pool.run(code, folder, {"request": raw, "executor": executor})


def close_pools() -> None:
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for p in pools:
        p.close()


__all__ = ["activate", "active", "close_pools", "folder_of", "pooled"]
