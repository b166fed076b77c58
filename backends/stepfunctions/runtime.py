"""Running one task request (what a Task state sent) through the shared ``execute`` path.

Every executor ends here: the SQS worker, the ECS/Batch container (``run-task``) and the Lambda
handler. Outputs go back as lazy typed JSON; large values are offloaded to S3; each execution
writes its lineage record; each node's final failure is kept for the handlers (see :mod:`.failures`).
"""

from __future__ import annotations

import collections
import functools
import os
import threading
from typing import Any

import attrs

from typedflow import ir
from typedflow.errors import IRValidationError
from typedflow.ir.types import check_json, normal_form
from typedflow.lineage.cloud import put_s3
from typedflow.lineage.log import CONFIGURED
from typedflow.lineage.record import RecordStatus
from typedflow.runtime.capture import node_segment
from typedflow.runtime.context import RunContext
from typedflow.runtime.execute import TaskError, check_input_handles, execute
from typedflow.runtime.recording import task_record
from typedflow.shipping.envcheck import task_missing
from typedflow.util.boundary import BoundaryError, check_depth
from typedflow.util.timestamps import utcnow

from .failures import naming
from .lazyjson import offload, resolve, size
from .protocol import CAUSE_LIMIT, ERROR_LIMIT, PAYLOAD_LIMIT
from .request import Request, parse_request
from .s3store import S3Store

# The IRs a warm worker ran last, by digest: a worker kept across deploys does not hold every version.
_IR_CACHE: collections.OrderedDict[str, ir.WorkflowIR] = collections.OrderedDict()
IR_CACHE_SIZE = 8
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


def deployed_irs(store: S3Store, limit: int = 200) -> list[ir.WorkflowIR]:
    """The IR documents deployed to ``store`` (at most ``limit``; an unreadable one is left out)."""
    prefix = store.key("ir") + "/"
    docs: list[ir.WorkflowIR] = []
    pages = store.s3.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            name = str(obj["Key"])[len(prefix) :].removesuffix(".json")
            try:
                docs.append(load_ir(store, "sha256:" + name))
            except (RequestError, BoundaryError, ValueError):
                continue
            if len(docs) >= limit:
                return docs
    return docs


def store_for(uri: str, client: Any = None) -> S3Store:
    with _LOCK:
        store = _STORES.get(uri)
        if store is None or (client is not None and store.s3 is not client):
            store = _STORES[uri] = S3Store(uri, client)
        return store


def publish_ir(store: S3Store, doc: ir.WorkflowIR) -> str:
    """Upload the IR the workers need (content-addressed by its digest); its S3 URI."""
    from typedflow.ir.codec import dumps

    return store.put_ir(doc.digest, dumps(doc))


def load_ir(store: S3Store, digest: str) -> ir.WorkflowIR:
    with _LOCK:
        doc = _IR_CACHE.get(digest)
        if doc is not None:
            _IR_CACHE.move_to_end(digest)
    if doc is not None:
        return doc
    from typedflow.ir.codec import loads

    text = store.get_ir_text(digest)
    if text is None:
        raise RequestError(f"workflow IR {digest} is not in {store.uri}/ir/ (deploy uploads it)")
    try:
        doc = loads(text)
    except IRValidationError as exc:
        raise RequestError(f"workflow IR {digest} in the store is not valid: {exc}") from None
    if doc.digest != digest:  # loads() checked the content against doc.digest; this is the one asked for
        raise RequestError(f"the IR stored as {digest} has the digest {doc.digest}: the store was tampered with")
    with _LOCK:
        _IR_CACHE[digest] = doc
        while len(_IR_CACHE) > IR_CACHE_SIZE:
            _IR_CACHE.popitem(last=False)
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
    """The ``typedflow.Failure`` given to a handler: that of the node the caught error names (see
    :mod:`.failures`), or what Step Functions caught (a timeout, a service error)."""
    from .failures import caught_failure

    error, cause = str(caught.get("Error") or ""), str(caught.get("Cause") or "")
    return caught_failure(store, doc.workflow.name, run_id, error, cause)


def run_request(
    req: Any,
    *,
    store_uri: str | None,
    s3: Any = None,
    executor: str = "sqs",
    use_cache: bool = True,
    attempt: int | None = None,
) -> Result:
    """Run the task of one request on this runtime's own store (``store_uri``); never raises: a malformed
    request is a ``typedflow.RequestError`` result, a task error a failed result. A Distributed Map's own
    steps (:mod:`.mapio`) come the same way."""
    from .mapio import MapRequest, is_map_request

    if isinstance(req, MapRequest) or is_map_request(req):
        return _run_map_step(req, store_uri, s3)
    try:
        request = req if isinstance(req, Request) else parse_request(req)
        if not store_uri:
            raise BoundaryError(
                "this runtime has no artifact store: start the worker with --bucket (or set TYPEDFLOW_BUCKET)"
            )
        if request.store is not None and request.store.rstrip("/") != store_uri.rstrip("/"):
            raise BoundaryError(f"the request names the store {request.store!r}, not this runtime's {store_uri}")
        store = store_for(store_uri, s3)
        doc = load_ir(store, request.ir)
        template = ir.effective(doc.task(request.task), request.options)
        lacking = task_missing(doc, template.name)
        if lacking:  # the declared environment is not this one: say what is missing, run nothing
            return Result(
                False,
                error="typedflow.EnvironmentMismatch",
                cause=f"task {template.name} needs what this runtime lacks: {'; '.join(lacking)}"[:CAUSE_LIMIT],
            )
        if request.code is not None:  # the task's module comes from the bundle the definition names
            from .bundles import activate

            activate(request.code, store)
    except KeyError as exc:
        return Result(False, error="typedflow.RequestError", cause=f"the IR has no task {exc}")
    except (BoundaryError, RequestError, ValueError) as exc:
        return Result(False, error="typedflow.RequestError", cause=str(exc)[:CAUSE_LIMIT])
    return _run(request, store, doc, template, executor, use_cache, attempt)


def _run_map_step(req: Any, store_uri: str | None, s3: Any) -> Result:
    from .mapio import MapRequest, parse_map_request, run_map_request

    try:
        request = req if isinstance(req, MapRequest) else parse_map_request(req)
        if not store_uri:
            raise BoundaryError("this runtime has no artifact store: start the worker with --bucket")
        if request.store is not None and request.store.rstrip("/") != store_uri.rstrip("/"):
            raise BoundaryError(f"the request names the store {request.store!r}, not this runtime's {store_uri}")
        store = store_for(store_uri, s3)
        ok, outputs, error, cause = run_map_request(request, store)
    except BoundaryError as exc:
        return Result(False, error="typedflow.RequestError", cause=str(exc)[:CAUSE_LIMIT])
    except Exception as exc:  # S3 unreachable, ...: report, never hang
        err_type = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        return Result(False, error=err_type[:ERROR_LIMIT], cause=str(exc)[:CAUSE_LIMIT])
    return Result(ok, outputs=outputs, error=error, cause=cause)


def _run(
    request: Request,
    store: S3Store,
    doc: ir.WorkflowIR,
    template: ir.TaskTemplate,
    executor: str,
    use_cache: bool,
    attempt: int | None,
) -> Result:
    run_id, node_key = request.run, request.node
    attempt = attempt if attempt is not None else request.retry + 1
    try:
        inputs = _inputs(request, store, doc, template)
    except (BoundaryError, ValueError, FileNotFoundError) as exc:
        return Result(
            False, error="typedflow.RequestError", cause=naming(f"inputs of task {template.name}: {exc}", node_key)
        )
    started = utcnow()  # a failed attempt's record spans it from here
    try:
        outcome = execute(
            template,
            inputs,
            store=store,
            use_cache=use_cache,
            context=RunContext(run_id, doc.workflow.name, node_key, attempt, doc.digest, "stepfunctions"),
            log=functools.partial(_keep_log, store, run_id, node_key, attempt),
        )
        started = outcome.started_at
        outputs = offload(
            outcome.outputs,
            inline=request.inline,
            elementwise=request.elementwise,
            limit=request.offload,
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
        )
        if _final(template, err, attempt):
            _keep_failure(
                store,
                run_id,
                {
                    "workflow": doc.workflow.name,
                    "run_id": run_id,
                    "node": node_key,
                    "error_type": err.error_type,
                    "message": err.message,
                    "traceback": err.traceback,
                },
            )
        cause = f"{err.message}\n{err.traceback}".strip()
        return Result(False, error=error_name(template, err), cause=naming(cause, node_key))
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
        )
        _keep_failure(
            store,
            run_id,
            {
                "workflow": doc.workflow.name,
                "run_id": run_id,
                "node": node_key,
                "error_type": err_type,
                "message": str(exc),
                "traceback": cause,
            },
        )
        return Result(False, error=err_type[:ERROR_LIMIT], cause=naming(cause, node_key))
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
    )
    return Result(True, outputs=outputs)


def _keep_failure(store: S3Store, run_id: str, failure: dict[str, Any]) -> None:
    """The final failure of a node: its own (what a handler of it gets), and the run's first."""
    if failure["node"]:
        store.put_node_failure(run_id, failure["node"], failure)
    store.put_first_failure(run_id, failure)


def _keep_log(store: S3Store, run_id: str, node_key: str, attempt: int, text: str) -> None:
    """An attempt's output, for ``typedflow runs logs`` (``runs/<run>/logs/<node>/<attempt>.log``)."""
    key = store.key("runs", run_id, "logs", node_segment(node_key), f"{attempt}.log")
    store.put_once(key, text.encode("utf-8"), "text/plain; charset=utf-8")


def _inputs(request: Request, store: S3Store, doc: ir.WorkflowIR, template: ir.TaskTemplate) -> dict[str, Any]:
    """The request's arguments as the task's typed-JSON inputs: markers resolved from this store, every
    input present and of its declared type (never coerced), in normal form (an int where a float is
    declared is that float; a dict's entries in key order: see :func:`normal_form`)."""
    declared = {p.name: p for p in template.inputs}
    unknown = sorted(set(request.args) - set(declared))
    if unknown:
        raise BoundaryError(f"unknown input {unknown[0]!r}")
    inputs: dict[str, Any] = {}
    for name, p in declared.items():
        if name not in request.args:
            raise BoundaryError(f"missing input {name!r}")
        try:
            value = resolve(request.args[name], store.get_value, lambda e: failure_value(store, doc, request.run, e))
        except RecursionError:
            raise BoundaryError(f"input {name!r} is nested too deeply") from None
        check_depth(value, f"input {name!r}")
        err = check_json(value, p.type, f"input {name!r}")
        if err:
            raise BoundaryError(str(err))
        inputs[name] = normal_form(value, p.type)
    check_input_handles(template, inputs, store)
    return inputs


def _record(
    store: S3Store,
    doc: ir.WorkflowIR,
    template: ir.TaskTemplate,
    run_id: str,
    node_key: str,
    executor: str,
    status: RecordStatus,
    attempt: int,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    started: str,
    ended: str | None,
    error: str | None,
    cache_key: str | None = None,
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
        # The runtime's own TYPEDFLOW_LINEAGE_KEY / TYPEDFLOW_LINEAGE_ANCHOR (set by the worker's flags, or by
        # the definition for containers): a request never chooses a key or where to write. The key is loaded
        # after the record is written: a key that cannot sign leaves the record unsigned, not missing.
        put_s3(
            rec,
            store.bucket,
            store.prefix,
            client=store.s3,
            signer=CONFIGURED,
            anchor=os.environ.get("TYPEDFLOW_LINEAGE_ANCHOR") or None,
        )
    except Exception:  # lineage must never turn a finished task into a failed one
        import logging

        logging.getLogger(__name__).exception("could not write the lineage record of %s", node_key)
