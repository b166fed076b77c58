"""Running one task request (what a Task state sent) through the shared ``execute`` path.

Every executor ends here: the SQS worker, the ECS/Batch container (``run-task``) and the Lambda
handler. Outputs go back as lazy typed JSON; large values are offloaded to S3; each execution
writes its lineage record; the first final failure of a run is kept for ``on_failure``.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

from typedflow import ir
from typedflow.lineage.cloud import put_s3
from typedflow.lineage.log import CONFIGURED
from typedflow.runtime.execute import TaskError, execute
from typedflow.runtime.recording import task_record
from typedflow.timestamps import utcnow

from .lazyjson import offload, resolve, size
from .protocol import CAUSE_LIMIT, ERROR_LIMIT, PAYLOAD_LIMIT, PROTOCOL_VERSION
from .s3store import S3Store

_IR_CACHE: dict[str, ir.WorkflowIR] = {}
_STORES: dict[str, S3Store] = {}
_LOCK = threading.Lock()


@attrs.frozen
class Result:
    """What to report to Step Functions: ``outputs`` on success, else ``error`` and ``cause``."""

    ok: bool
    outputs: dict[str, Any] | None = None
    error: str = ""
    cause: str = ""


class RequestError(Exception):
    """The request itself is unusable (wrong protocol, unknown IR or task)."""


def store_for(uri: str, client: Any = None) -> S3Store:
    with _LOCK:
        store = _STORES.get(uri)
        if store is None or (client is not None and store.s3 is not client):
            store = _STORES[uri] = S3Store(uri, client)
        return store


def publish_ir(store: S3Store, doc: ir.WorkflowIR) -> str:
    """Upload the IR the workers need (content-addressed by its digest); its S3 URI."""
    from typedflow.codec import dumps

    return store.put_ir(doc.digest, dumps(doc))


def load_ir(store: S3Store, digest: str) -> ir.WorkflowIR:
    with _LOCK:
        doc = _IR_CACHE.get(digest)
    if doc is not None:
        return doc
    from typedflow.codec import loads

    text = store.get_ir_text(digest)
    if text is None:
        raise RequestError(f"workflow IR {digest} is not in {store.uri}/ir/ (deploy uploads it)")
    doc = loads(text)
    with _LOCK:
        _IR_CACHE[digest] = doc
    return doc


def error_name(template: ir.TaskTemplate, err: Any) -> str:
    """The error reported to Step Functions. When the retry policy names a base class of the
    exception, report that name, so the state's Retry (which matches names exactly) retries
    exactly what the local interpreter retries."""
    from typedflow.runtime.retry import retryable

    policy = template.retry
    if policy.on and err.exc is not None and retryable(policy, err):
        mro = {f"{c.__module__}:{c.__qualname__}" for c in type(err.exc).__mro__}
        for wanted in policy.on:
            if wanted in mro:
                return str(wanted).replace(":", ".").removeprefix("builtins.")[:ERROR_LIMIT]
    return str(err.error_type)[:ERROR_LIMIT]


def _final(template: ir.TaskTemplate, err: Any, attempt: int) -> bool:
    from typedflow.runtime.retry import retryable

    return attempt >= template.retry.attempts or not retryable(template.retry, err)


def failure_value(store: S3Store, doc: ir.WorkflowIR, run_id: str, caught: dict[str, Any]) -> dict[str, Any]:
    """The ``typedflow.Failure`` given to on_failure: the first failure the runtime recorded, or
    what Step Functions caught (a timeout, a service error)."""
    first = store.get_failure(run_id)
    if first is not None:
        return first
    cause = str(caught.get("Cause") or "")
    return {
        "workflow": doc.workflow.name,
        "run_id": run_id,
        "node": "",
        "error_type": str(caught.get("Error", "")),
        "message": cause,
        "traceback": "",
    }


def run_request(
    req: dict[str, Any],
    *,
    default_store: str | None,
    s3: Any = None,
    executor: str = "sqs",
    use_cache: bool = True,
    attempt: int | None = None,
) -> Result:
    """Run the task of one request; never raises for task errors (they become a failed Result)."""
    if req.get("v") != PROTOCOL_VERSION:
        return Result(
            False,
            error="typedflow.ProtocolError",
            cause=f"request version {req.get('v')!r}; this runtime speaks {PROTOCOL_VERSION}",
        )
    store_uri = req.get("store") or default_store
    if not store_uri:
        return Result(
            False,
            error="typedflow.ConfigurationError",
            cause="no artifact store: compile with --bucket or start the worker with --bucket",
        )
    store = store_for(store_uri, s3)
    run_id = str(req.get("run", ""))
    node_key = str(req.get("node", ""))
    attempt = attempt if attempt is not None else int(req.get("retry", 0)) + 1
    try:
        doc = load_ir(store, str(req["ir"]))
        template = doc.task(str(req["task"]))
    except (RequestError, KeyError) as exc:
        return Result(False, error="typedflow.RequestError", cause=str(exc)[:CAUSE_LIMIT])
    inputs: dict[str, Any] = {}
    started = utcnow()  # a failed attempt's record spans it from here
    try:
        inputs = {
            k: resolve(v, store.get_value, lambda e: failure_value(store, doc, run_id, e))
            for k, v in (req.get("args") or {}).items()
        }
        outcome = execute(
            template,
            inputs,
            store=store,
            use_cache=use_cache,
            context=(run_id, doc.workflow.name, node_key, attempt, doc.digest, "stepfunctions"),
        )
        started = outcome.started_at
        outputs = offload(
            outcome.outputs,
            inline=req.get("inline") or (),
            elementwise=req.get("elementwise") or (),
            limit=int(req.get("offload") or 32768),
            put=store.put_value,
        )
        n = size(outputs)
        if n > PAYLOAD_LIMIT - 4096:
            raise TaskError(
                "typedflow.PayloadTooLarge",
                f"the outputs of {template.name} are {n:,} bytes inline; a when() or map_over reads "
                "them so they cannot be offloaded, and Step Functions carries at most 262,144 bytes",
            )
    except TaskError as err:
        _record(
            store,
            doc,
            template,
            run_id,
            node_key,
            executor,
            "failed",
            attempt,
            inputs,
            {},
            started,
            None,
            f"{err.error_type}: {err.message}"[:2000],
            lineage=req.get("lineage"),
        )
        if _final(template, err, attempt):
            store.put_first_failure(
                run_id,
                {
                    "workflow": doc.workflow.name,
                    "run_id": run_id,
                    "node": node_key.rsplit("/", 1)[-1],
                    "error_type": err.error_type,
                    "message": err.message,
                    "traceback": err.traceback,
                },
            )
        cause = f"{err.message}\n{err.traceback}".strip()
        return Result(False, error=error_name(template, err), cause=cause[:CAUSE_LIMIT])
    except Exception as exc:  # the runtime itself failed (code mismatch, S3): report, never hang
        import traceback

        err_type = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        cause = f"{exc}\n{traceback.format_exc()}"
        _record(
            store,
            doc,
            template,
            run_id,
            node_key,
            executor,
            "failed",
            attempt,
            inputs,
            {},
            started,
            None,
            f"{err_type}: {exc}"[:2000],
            lineage=req.get("lineage"),
        )
        store.put_first_failure(
            run_id,
            {
                "workflow": doc.workflow.name,
                "run_id": run_id,
                "node": node_key.rsplit("/", 1)[-1],
                "error_type": err_type,
                "message": str(exc),
                "traceback": cause,
            },
        )
        return Result(False, error=err_type[:ERROR_LIMIT], cause=cause[:CAUSE_LIMIT])
    _record(
        store,
        doc,
        template,
        run_id,
        node_key,
        executor,
        outcome.status,
        attempt,
        inputs,
        outcome.outputs,
        outcome.started_at,
        outcome.ended_at,
        None,
        outcome.cache_key,
        lineage=req.get("lineage"),
    )
    return Result(True, outputs=outputs)


def _record(
    store: S3Store,
    doc: ir.WorkflowIR,
    template: ir.TaskTemplate,
    run_id: str,
    node_key: str,
    executor: str,
    status: str,
    attempt: int,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    started: str,
    ended: str | None,
    error: str | None,
    cache_key: str | None = None,
    lineage: dict[str, str] | None = None,
) -> None:
    try:
        rec = task_record(
            doc_name=doc.workflow.name,
            ir_digest=doc.digest,
            run_id=run_id,
            target="stepfunctions",
            executor=executor,
            template=template,
            node_id=node_key,
            status=status,
            attempt=attempt,
            inputs=inputs,
            outputs=outputs,
            started_at=started,
            ended_at=ended or utcnow(),
            cache_key=cache_key,
            error=error,
        )
        # The deploy's --lineage-key / --lineage-anchor, else the worker's TYPEDFLOW_LINEAGE_KEY. The key is
        # loaded after the record is written: a key that cannot sign leaves the record unsigned, not missing.
        cfg = lineage or {}
        put_s3(
            rec,
            store.bucket,
            store.prefix,
            client=store.s3,
            signer=cfg.get("key", CONFIGURED),
            anchor=cfg.get("anchor"),
        )
    except Exception:  # lineage must never turn a finished task into a failed one
        import logging

        logging.getLogger(__name__).exception("could not write the lineage record of %s", node_key)
