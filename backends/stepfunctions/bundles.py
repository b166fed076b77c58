"""Task code from bundles: fetched from the runtime's own store, verified, then imported.

A process that runs one bundle's tasks (an ECS or Batch container, a Lambda invocation, a bundle
process of the SQS worker) puts the bundle's verified folder first on ``sys.path``
(:func:`activate`). The SQS worker serves every deployed version at once, so it runs each bundle's
tasks in a process of its own (:func:`pooled`, see :mod:`typedflow.shipping.pool`).
"""

from __future__ import annotations

import argparse
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


def serve_bundle(argv: list[str]) -> int:
    """``python -I -m typedflow.runtime stepfunctions serve-bundle --bucket S3URI --code DIGEST --dir DIR``:
    a bundle process of the SQS worker (see :mod:`typedflow.shipping.pool`)."""
    from typedflow.shipping.pool import serve
    from typedflow.shipping.unpack import tree_digest

    from .runtime import run_request

    p = argparse.ArgumentParser(prog="python -m typedflow.runtime stepfunctions serve-bundle")
    p.add_argument("--bucket", required=True)
    p.add_argument("--code", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--no-cache", action="store_true")
    args = p.parse_args(argv)
    folder = Path(args.dir)
    try:
        if tree_digest(folder) != args.code:  # the folder may have changed since the worker verified it
            raise BoundaryError(f"{folder} does not hold bundle {args.code}")
        activate(args.code, None, folder)
    except (BoundaryError, OSError) as exc:
        print(f"typedflow.RequestError: {exc}", file=sys.stderr)
        return 2

    def handle(msg: dict[str, Any]) -> dict[str, Any]:
        request = msg.get("request")
        if not isinstance(request, dict) or request.get("code") != args.code:
            return {"ok": False, "error": "typedflow.RequestError", "cause": f"not a request of bundle {args.code}"}
        result = run_request(
            request, store_uri=args.bucket, executor=str(msg.get("executor") or "sqs"), use_cache=not args.no_cache
        )
        return {"ok": result.ok, "outputs": result.outputs, "error": result.error, "cause": result.cause}

    return serve(handle, args.concurrency)


__all__ = ["activate", "active", "close_pools", "folder_of", "pooled", "serve_bundle"]
