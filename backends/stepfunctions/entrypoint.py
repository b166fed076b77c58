"""``python -m typedflow.runtime stepfunctions COMMAND``: the container and worker entrypoint.

- ``worker --queue-url URL [--bucket S3URI]``: the SQS executor's worker (see :mod:`.worker`).
- ``run-task``: one task in an ECS or Batch container. The request comes in ``TYPEDFLOW_REQUEST``;
  with ``TYPEDFLOW_TASK_TOKEN`` (ECS ``.waitForTaskToken``) the result is sent with
  SendTaskSuccess/SendTaskFailure; with ``TYPEDFLOW_RESULT_URI`` (Batch ``.sync``) the outputs are
  written there for the state machine to read back, and a failure exits non-zero.
- :func:`lambda_handler` for the Lambda executor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

USAGE = """usage: python -m typedflow.runtime stepfunctions COMMAND
commands:
  worker --queue-url URL [--bucket S3URI] [--concurrency N]   serve task requests from SQS
  run-task                                                    run the task in $TYPEDFLOW_REQUEST (ECS, Batch)
  serve-bundle --bucket S3URI --code DIGEST --dir DIR          a worker's process for one code bundle"""


class TaskFailed(Exception):
    """Raised by the Lambda handler; Step Functions sees the message as the cause."""


def run_task(env: dict[str, str] | None = None) -> int:
    from typedflow.util.boundary import BoundaryError, parse_json

    from .protocol import CAUSE_LIMIT
    from .runtime import Result, run_request, store_for

    env = dict(os.environ if env is None else env)
    token = env.get("TYPEDFLOW_TASK_TOKEN")
    executor = "ecs" if token else "batch"
    store_uri = env.get("TYPEDFLOW_BUCKET")
    try:
        request = parse_json(env.get("TYPEDFLOW_REQUEST", ""), "TYPEDFLOW_REQUEST")
        attempt = _attempt(env.get("TYPEDFLOW_ATTEMPT", ""))
    except BoundaryError as exc:
        result = Result(False, error="typedflow.RequestError", cause=str(exc)[:CAUSE_LIMIT])
    else:
        result = run_request(request, store_uri=store_uri, executor=executor, attempt=attempt)
    if token:
        import boto3

        from .worker import report

        report(boto3.client("stepfunctions"), token, result)
        return 0 if result.ok else 1
    if not result.ok:
        print(f"{result.error}: {result.cause}", file=sys.stderr)
        return 1
    uri = env.get("TYPEDFLOW_RESULT_URI", "")
    assert store_uri is not None  # run_request succeeded, so it had a store
    store = store_for(store_uri)
    try:
        key = store.own_key(uri, "TYPEDFLOW_RESULT_URI")
    except BoundaryError as exc:
        print(f"typedflow.RequestError: {exc}", file=sys.stderr)
        return 1
    store.s3.put_object(
        Bucket=store.bucket, Key=key, Body=json.dumps(result.outputs).encode("utf-8"), ContentType="application/json"
    )
    return 0


def _attempt(text: str) -> int:
    """The attempt number (from 1) of ``TYPEDFLOW_ATTEMPT``, the state's 0-based retry count."""
    from typedflow.util.boundary import BoundaryError

    if not text:
        return 1
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise BoundaryError(f"TYPEDFLOW_ATTEMPT: not a retry count: {text[:40]!r}")
    return int(text) + 1


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda executor: ``{"typedflow": request}`` in, the outputs object out."""
    from .runtime import run_request

    request = event.get("typedflow") if isinstance(event, dict) else None
    store_uri = os.environ.get("TYPEDFLOW_BUCKET")
    code = request.get("code") if isinstance(request, dict) else None  # checked again by the runtime
    result = None
    if isinstance(request, dict) and isinstance(code, str) and store_uri:
        from .bundles import active

        if active() not in (None, code):  # a warm function that imported another version's code
            result = _lambda_pooled(request, code, store_uri)
    if result is None:
        result = run_request(request, store_uri=store_uri, executor="lambda")
    if not result.ok:
        # Lambda reports the exception's class name as the error: name the class after the task's
        # error so the state's Retry/Catch match it as they do for the other executors
        error_class = type(result.error, (TaskFailed,), {})
        raise error_class(result.cause)
    return dict(result.outputs or {})


def _lambda_pooled(request: dict[str, Any], code: str, store_uri: str) -> Any:
    from typedflow.util.boundary import BoundaryError, check_digest

    from .bundles import pooled
    from .runtime import Result, store_for

    try:
        check_digest(code, "request field 'code'")
    except BoundaryError as exc:
        return Result(False, error="typedflow.RequestError", cause=str(exc))
    answer = pooled(request, code, store_for(store_uri), executor="lambda")
    return Result(
        bool(answer.get("ok")), answer.get("outputs"), str(answer.get("error") or ""), str(answer.get("cause") or "")
    )


def serve_bundle(argv: list[str]) -> int:
    """``python -I -m typedflow.runtime stepfunctions serve-bundle --bucket S3URI --code DIGEST --dir DIR``:
    a bundle process of the SQS worker (see :mod:`typedflow.shipping.pool`)."""
    from pathlib import Path

    from typedflow.shipping.pool import serve
    from typedflow.shipping.unpack import tree_digest
    from typedflow.util.boundary import BoundaryError

    from .bundles import activate
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run-task":
        return run_task()
    if command == "serve-bundle":
        return serve_bundle(rest)
    if command == "worker":
        from . import _aws
        from .worker import add_worker_options, worker_command

        p = argparse.ArgumentParser(prog="python -m typedflow.runtime stepfunctions worker")
        add_worker_options(p)
        args = p.parse_args(rest)
        return _aws("worker", lambda: worker_command(args))  # no region, no credentials: one line, not a traceback
    print(USAGE, file=sys.stderr)
    return 2
