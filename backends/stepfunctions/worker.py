"""The SQS executor's worker: ``typedflow worker stepfunctions --queue-url URL [--bucket s3://…]``.

It polls the queue, runs each task request through the shared runtime, heartbeats while the task
runs and reports back with SendTaskSuccess / SendTaskFailure. Use :class:`Worker` in-process
(``worker.start()`` returns a thread; ``worker.stop()`` ends it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from typedflow.util.boundary import BoundaryError, parse_json

from .mapio import MapRequest, is_map_request, parse_map_request
from .options import split_s3
from .protocol import CAUSE_LIMIT, REQUEST_KEY, TOKEN_KEY
from .request import Request, parse_request
from .runtime import Result, run_request

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0  # seconds between attempts to reach an unreachable queue, at most
_TOKEN = re.compile(r'^\{\s*"TaskToken"\s*:\s*"([A-Za-z0-9+/=_.:-]{1,8192})"')


def _quiet(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except Exception as exc:  # the token is gone (timed out, execution stopped): nothing to report to
        log.debug("%s failed: %s", getattr(call, "__name__", "call"), exc)


class Worker:
    def __init__(
        self,
        queue_url: str,
        *,
        bucket: str | None = None,
        concurrency: int = 4,
        wait_seconds: int = 1,
        idle_sleep: float = 0.05,
        use_cache: bool = True,
        sqs: Any = None,
        sfn: Any = None,
        s3: Any = None,
    ) -> None:
        if sqs is None or sfn is None:
            import boto3

            sqs = sqs or boto3.client("sqs")
            sfn = sfn or boto3.client("stepfunctions")
        self.queue_url = queue_url
        self.bucket = bucket
        self.concurrency = max(1, concurrency)
        self.wait_seconds = wait_seconds
        self.idle_sleep = idle_sleep
        self.use_cache = use_cache
        self.sqs, self.sfn, self.s3 = sqs, sfn, s3
        self.first_backoff = 1.0
        self._stop = threading.Event()
        self._slots = threading.Semaphore(self.concurrency)
        self.handled = 0

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Poll until :meth:`stop`; tasks run on a pool of ``concurrency`` threads. While the queue cannot
        be reached, the worker waits longer each time (up to ``MAX_BACKOFF`` seconds), one line a wait."""
        backoff = 0.0
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="typedflow-sfn-task") as pool:
            while not self._stop.is_set():
                free = self._free_slots()
                if not free:
                    self._stop.wait(self.idle_sleep)
                    continue
                try:
                    resp = self.sqs.receive_message(
                        QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, free), WaitTimeSeconds=self.wait_seconds
                    )
                except Exception as exc:
                    backoff = min(MAX_BACKOFF, backoff * 2 if backoff else self.first_backoff)
                    log.warning(
                        "cannot receive from %s (%s); trying again in %gs", self.queue_url, _short(exc), backoff
                    )
                    self._stop.wait(backoff)
                    continue
                if backoff:
                    log.info("receiving from %s again", self.queue_url)
                    backoff = 0.0
                messages = resp.get("Messages", [])
                if not messages:
                    self._stop.wait(self.idle_sleep)
                for msg in messages:
                    # deleted at once: a lost worker shows as a missed heartbeat and the state's
                    # Retry runs the task again, so SQS redelivery must not run it twice
                    _quiet(self.sqs.delete_message, QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
                    self._slots.acquire()
                    pool.submit(self._guarded, msg.get("Body", ""))

    def _free_slots(self) -> int:
        n = 0
        while n < self.concurrency and self._slots.acquire(blocking=False):
            n += 1
        for _ in range(n):
            self._slots.release()
        return n

    def _guarded(self, body: str) -> None:
        try:
            self.handle(body)
        except Exception:
            log.exception("task message could not be handled")
        finally:
            self.handled += 1
            self._slots.release()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name="typedflow-sfn-worker", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ one message
    def handle(self, body: str) -> Result | None:
        """Run one message's task and report it. A message without a task token cannot be answered and
        is dropped with a warning; any other malformed request is answered with SendTaskFailure."""
        message: Any = None
        try:
            # Depth is bounded per value once the request is read; here only what the parser can take.
            message = parse_json(body, "task message", max_depth=1_000_000)
            token = message.get(TOKEN_KEY) if isinstance(message, dict) else None
        except BoundaryError as exc:
            found = _TOKEN.search(body[:4096])  # an unreadable body may still say whom to answer
            token = found.group(1) if found else None
            problem: BoundaryError | None = exc
        else:
            problem = None
        if not isinstance(token, str) or not token or len(token) > 8192:
            log.warning("dropping a message without a task token: %.200s", body)
            return None
        try:
            if problem is not None:
                raise problem
            raw = message.get(REQUEST_KEY)
            req: Request | MapRequest = parse_map_request(raw) if is_map_request(raw) else parse_request(raw)
        except BoundaryError as exc:
            result = Result(False, error="typedflow.RequestError", cause=str(exc)[:CAUSE_LIMIT])
            log.warning("task request refused: %s", exc)
            report(self.sfn, token, result)
            return result
        done = threading.Event()
        period = max(1.0, (req.heartbeat or 60) / 3)

        def beat() -> None:  # keeps HeartbeatSeconds from expiring while the task runs
            while not done.wait(period):
                _quiet(self.sfn.send_task_heartbeat, taskToken=token)

        threading.Thread(target=beat, daemon=True, name="typedflow-sfn-heartbeat").start()
        what = f"task {req.task} (node {req.node}, run {req.run}, attempt {req.retry + 1})"
        log.info("%s started", what)
        t0 = time.monotonic()
        try:
            if req.code is not None and self.bucket and isinstance(req, Request):  # map steps run no user code
                result = self._in_bundle_process(message.get(REQUEST_KEY), req.code)
            else:
                result = run_request(req, store_uri=self.bucket, s3=self.s3, executor="sqs", use_cache=self.use_cache)
        finally:
            done.set()
        took = time.monotonic() - t0
        if result.ok:
            log.info("%s done in %.2fs", what, took)
        else:
            first = result.cause.strip().splitlines()[0] if result.cause.strip() else ""
            log.warning("%s failed after %.2fs: %s: %s", what, took, result.error, first[:500])
        report(self.sfn, token, result)
        return result

    def _in_bundle_process(self, raw: Any, code: str) -> Result:
        """Run a request of bundle ``code`` in that bundle's own process: this worker serves every
        deployed version, and one process can import only one version of a module."""
        from .bundles import pooled
        from .runtime import store_for

        assert self.bucket is not None
        if raw.get("store") is not None and str(raw["store"]).rstrip("/") != self.bucket.rstrip("/"):
            return Result(
                False,
                error="typedflow.RequestError",
                cause=f"the request names the store {raw['store']!r}, not {self.bucket}",
            )
        answer = pooled(
            raw, code, store_for(self.bucket, self.s3), use_cache=self.use_cache, concurrency=self.concurrency
        )
        return Result(
            bool(answer.get("ok")),
            outputs=answer.get("outputs"),
            error=str(answer.get("error") or ""),
            cause=str(answer.get("cause") or "")[:CAUSE_LIMIT],
        )

    def close(self) -> None:
        """Stop this worker's bundle processes (after :meth:`stop`)."""
        from .bundles import close_pools

        close_pools()


def _short(exc: Exception) -> str:
    """An exception in one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def report(sfn: Any, token: str, result: Result) -> None:
    if result.ok:
        _quiet(sfn.send_task_success, taskToken=token, output=json.dumps(result.outputs, separators=(",", ":")))
    else:
        _quiet(sfn.send_task_failure, taskToken=token, error=result.error, cause=result.cause)


# ----------------------------------------------------------------------------- CLI


def check_environment(bucket: str, s3: Any = None) -> list[str]:
    """List on stderr what this environment lacks of the declared environments of the workflows
    deployed to ``bucket``; the lines."""
    from typedflow.shipping.envcheck import report

    from .runtime import deployed_irs, store_for

    docs = deployed_irs(store_for(bucket, s3))
    lines = report(docs)
    for line in lines:
        print(f"typedflow worker: {line}", file=sys.stderr)
    if not lines:
        print(
            f"typedflow worker: this environment has what the {len(docs)} deployed workflows declare", file=sys.stderr
        )
    return lines


def add_worker_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queue-url", metavar="URL", help="stepfunctions: the SQS queue of task requests")
    p.add_argument(
        "--bucket",
        metavar="S3URI",
        help="stepfunctions: s3://bucket/prefix, the one store this worker reads and writes (required); "
        "requests that name another store are refused",
    )
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="stepfunctions: tasks run at once")
    p.add_argument(
        "--lineage-key",
        metavar="SPEC",
        help="stepfunctions: sign lineage checkpoints with awskms:KEY or a key file (else $TYPEDFLOW_LINEAGE_KEY)",
    )
    p.add_argument(
        "--lineage-anchor",
        metavar="S3URI",
        help="stepfunctions: also write checkpoints to this Object Lock bucket (else $TYPEDFLOW_LINEAGE_ANCHOR)",
    )
    p.add_argument("--no-cache", action="store_true", help="stepfunctions: do not read or write the task cache")
    p.add_argument(
        "--require-environment",
        action="store_true",
        help="stepfunctions: exit at start when this environment lacks what a deployed workflow's declared "
        "environments need (by default the lack is listed, and those tasks fail with what is missing)",
    )


def worker_command(args: argparse.Namespace) -> int:
    if not getattr(args, "queue_url", None):
        print("typedflow worker stepfunctions: --queue-url is required", file=sys.stderr)
        return 2
    if not getattr(args, "bucket", None):
        print("typedflow worker stepfunctions: --bucket is required (the store this worker serves)", file=sys.stderr)
        return 2
    if not str(args.bucket).startswith("s3://") or not split_s3(args.bucket)[0]:
        bad = f"--bucket {args.bucket!r}: expected s3://bucket[/prefix]"
        print(f"typedflow worker stepfunctions: {bad}", file=sys.stderr)
        return 2
    # The worker's own lineage settings (never a request's): the runtime reads them where it records.
    if getattr(args, "lineage_key", None):
        os.environ["TYPEDFLOW_LINEAGE_KEY"] = args.lineage_key
    if getattr(args, "lineage_anchor", None):
        os.environ["TYPEDFLOW_LINEAGE_ANCHOR"] = args.lineage_anchor
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        lacking = check_environment(args.bucket)
    except Exception as exc:  # the store cannot be listed (permissions): serve anyway, each task is checked
        log.warning("could not check the deployed workflows' environments: %s", exc)
        lacking = []
    if lacking and getattr(args, "require_environment", False):
        return 2
    w = Worker(
        args.queue_url,
        bucket=args.bucket,
        concurrency=args.concurrency,
        wait_seconds=20,
        use_cache=not getattr(args, "no_cache", False),
    )
    print(f"typedflow worker: polling {args.queue_url}", file=sys.stderr)
    try:
        w.run()
    except KeyboardInterrupt:
        w.stop()
    finally:
        w.close()
    return 0
