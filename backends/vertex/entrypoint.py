"""The task container: ``python3 -m typedflow.runtime vertex --executor-input {{$}} ...``.

Reads the KFP executor input, rebuilds each argument as the compiler planned (select a field,
assemble a NamedTuple, coerce Vertex's doubles back to declared ints), runs the task through
:func:`typedflow.runtime.execute.execute`, then writes outputs where Vertex reads them
(``executor_output.json`` and the output artifact paths) and the task's lineage record.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.ir.codec import converter as ir_converter
from typedflow.ir.types import check_json, normal_form
from typedflow.runtime.context import RunContext
from typedflow.runtime.tolerance import TOLERANCE_ERROR
from typedflow.util.boundary import BoundaryError, open_nofollow, parse_json

from . import executor_input, step_args
from .components import stand_in
from .executor_input import json_kind, local_path
from .runfiles import keep_failure, keep_log, keep_outputs, run_dir
from .step_args import step_arg, type_arg
from .typemap import coerce


def _gcs_resolver(uri: str, sha256: str | None, is_dir: bool) -> Path:
    return local_path(uri)


def _follow(v: Any, path: list[str], key: str) -> Any:
    """The field ``path`` selects from input ``key`` (None when a value on the way is)."""
    for field in path:
        if v is None:
            return None
        if not isinstance(v, dict) or field not in v:
            got = f"not {json_kind(v)}" if not isinstance(v, dict) else "not one without it"
            raise BoundaryError(f"input {key!r} must be an object holding {field!r}, {got}")
        v = v[field]
    return v


def _status(ei: dict[str, Any], key: str) -> dict[str, Any]:
    """The final status of a task an exit handler reads (``{}`` when Vertex passed none)."""
    status = read_input(ei, key)
    if status is None:
        return {}
    if not isinstance(status, dict):
        raise BoundaryError(f"input {key!r} must be an object (the task's final status), not {json_kind(status)}")
    error = status.get("error")
    if error is not None and not isinstance(error, dict):
        raise BoundaryError(f"input {key!r}: 'error' must be an object, not {json_kind(error)}")
    return status


def _handle(a: dict[str, Any]) -> dict[str, Any]:
    meta = a.get("metadata") or {}
    return {"uri": a.get("uri", ""), "sha256": meta.get("sha256"), "format": meta.get("format")}


def read_input(ei: dict[str, Any], key: str) -> Any:
    """One executor input as typed JSON: a parameter value, or an artifact as a file handle."""
    params = ei.get("inputs", {}).get("parameterValues", {})
    if key in params:
        return params[key]
    arts = ei.get("inputs", {}).get("artifacts", {}).get(key)
    if arts and arts.get("artifacts"):
        return _handle(arts["artifacts"][0])
    return None


def with_artifact_lists(ei: dict[str, Any], keys: Any) -> dict[str, Any]:
    """``ei`` with each input named in ``keys`` (an artifact list: the files a ``map_over`` collected, in
    item order) as a parameter holding the list of their handles."""
    if not keys:
        return ei
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BoundaryError("the artifact lists of a payload must be a list of input names")
    inputs = dict(ei.get("inputs") or {})
    params = dict(inputs.get("parameterValues") or {})
    arts = inputs.get("artifacts") or {}
    for key in keys:
        params[key] = [_handle(a) for a in (arts.get(key) or {}).get("artifacts") or []]
    return {**ei, "inputs": {**inputs, "parameterValues": params}}


def _failure(status: dict[str, Any], workflow: str, job: str) -> dict[str, Any]:
    error = status.get("error") or {}
    return {
        "workflow": workflow,
        "run_id": job or status.get("pipelineJobResourceName", status.get("pipeline_job_resource_name", "")),
        "node": status.get("pipelineTaskName", status.get("pipeline_task_name", "")),
        "error_type": str(status.get("state", "FAILED")),
        "message": str(error.get("message", "")),
        "traceback": "",
    }


def build_value(ei: dict[str, Any], plan: dict[str, Any], workflow: str = "", job: str = "") -> Any:
    if "oneof" in plan:  # one_of(...): the option of the branch that ran
        for sub in plan["oneof"]:
            option = build_value(ei, sub, workflow, job)
            if option is not None:
                return option
        return None
    if "record" in plan:  # a record a map body built: each field by its own plan
        return {f: build_value(ei, sub, workflow, job) for f, sub in plan["record"].items()}
    if "present" in plan and read_input(ei, plan["present"]) is not True:
        return None  # its `when` branch did not run: what was passed is a placeholder
    if "fields" in plan:
        value: Any = {f: read_input(ei, key) for f, key in plan["fields"].items()}
    elif "caught" in plan:  # a handler inside a tolerant map item: the first failure it handles, if any
        flag = first_flag(ei, plan["caught"], "caught failure flags")
        if not flag:
            return None
        caught = _failure_of(flag, "a handled failure")
        value = {
            "workflow": workflow,
            "run_id": job,
            "node": str(caught.get("node", "")),
            "error_type": str(caught.get("error_type", "")),
            "message": str(caught.get("message", "")),
            "traceback": "",
        }
    elif "failure" in plan:
        status = _status(ei, plan["failure"])
        if plan.get("none_if_succeeded") and str(status.get("state", "")).upper() in ("SUCCEEDED", "CACHED"):
            return None  # an exit handler after a block that succeeded: no failure
        value = _failure(status, workflow, job)
    else:
        value = read_input(ei, plan["in"])
    return _follow(value, plan.get("path", []), str(plan.get("in", "the value")))


def build_inputs(
    ei: dict[str, Any], template: ir.TaskTemplate, plan: dict[str, Any], workflow: str, job: str
) -> dict[str, Any]:
    return {
        p.name: coerce(build_value(ei, plan[p.name], workflow, job), p.type) for p in template.inputs if p.name in plan
    }


class _Store:
    """Where a task's files go before they are copied to Vertex's output paths: a content-addressed
    store under the pipeline root, so handles nested in parameters stay readable downstream. Input
    handles are read only from under the pipeline root (``allowed``, when Vertex gave one), and only
    after their content matched its digest."""

    def __init__(self, root: Path, allowed: Path | None) -> None:
        from typedflow.runtime.store import LocalStore, Verifier

        self.local = LocalStore(root, durable=False)
        self.allowed = allowed.resolve() if allowed is not None else None
        self.verifier = Verifier()
        self._key = secrets.token_bytes(32)

    def put_file(self, path: Path) -> tuple[str, str]:
        return self.local.put_file(path)

    def put_dir(self, path: Path) -> tuple[str, str]:
        return self.local.put_dir(path)

    def locate(self, uri: str, sha256: Any, is_dir: bool) -> None:
        from typedflow.util.boundary import BoundaryError, check_sha256

        check_sha256(sha256, f"file handle {uri!r}")
        path = local_path(uri).resolve()
        if self.allowed is not None and not path.is_relative_to(self.allowed):
            raise BoundaryError(f"file handle {uri!r} is outside the pipeline root")

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path:
        self.locate(uri, sha256, is_dir)
        path = local_path(uri)
        (self.verifier.tree if is_dir else self.verifier.file)(path, sha256, "artifact")
        return path

    def check_after(self, path: Path, sha256: str, is_dir: bool) -> None:
        if is_dir or not self.verifier.unchanged(path):
            (self.verifier.tree if is_dir else self.verifier.file)(path, sha256, "artifact")

    def digest_key(self) -> bytes:
        return self._key  # Vertex caches by itself: a digest of a sensitive value needs no other reader

    def get_json(self, key: str) -> Any | None:
        return None  # Vertex caches by itself; the container never reads a cache

    def put_json(self, key: str, data: Any) -> None:
        return None


def _open_output(path: Path) -> int:
    """A file the container writes (the executor output, an output artifact), opened for writing without
    following a link at it or blocking on a FIFO (:func:`executor_input.check_places` checked it first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK)
    except OSError as exc:
        problem = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be written: {exc.strerror or exc}"
        raise BoundaryError(f"{path} {problem}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BoundaryError(f"{path} is not a regular file")
    return fd


def _write_output(path: Path, data: bytes) -> None:
    with os.fdopen(_open_output(path), "wb") as fh:
        fh.write(data)


def _output_dir(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise BoundaryError(f"{path} is {'a symbolic link' if path.is_symlink() else 'not a folder'}")
    path.mkdir(parents=True, exist_ok=True)


def _copy(src: Path, dest: Path) -> None:
    if src.is_dir():
        _output_dir(dest)
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        with src.open("rb") as fin, os.fdopen(_open_output(dest), "wb") as fout:
            shutil.copyfileobj(fin, fout)


def write_outputs(
    ei: dict[str, Any], outputs: dict[str, Any], template: ir.TaskTemplate, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``executor_output.json``: parameter values, and each output file copied to its artifact URI."""
    result: dict[str, Any] = {"parameterValues": dict(extra or {}), "artifacts": {}}
    out_arts = ei.get("outputs", {}).get("artifacts", {})
    for p in template.outputs:
        if p.name not in outputs:
            continue
        v = outputs[p.name]
        if p.name in out_arts and isinstance(v, dict) and "uri" in v:
            art = dict(out_arts[p.name]["artifacts"][0])
            _copy(local_path(v["uri"]), local_path(art["uri"]))
            art["metadata"] = {**(art.get("metadata") or {}), "sha256": v.get("sha256"), "format": v.get("format")}
            schema = table_schema(p.type)
            if schema is not None:
                art["metadata"]["schema"] = schema
            art.pop("type", None)
            result["artifacts"][p.name] = {"artifacts": [art]}
        else:
            result["parameterValues"][p.name] = v
    write_executor_output(ei, result)
    return result


def table_schema(t: ir.TypeRef) -> dict[str, Any] | None:
    """An output artifact's column schema as Vertex ML Metadata keeps it: the schema class, its
    digest (as lineage records it), and each column's name, type and constraints."""
    t = t.args[0] if t.kind == "optional" else t
    if t.kind not in ("file", "directory") or t.schema is None:
        return None
    from typedflow.tables.schema import schema_digest, show_column

    return {
        "name": t.schema.name,
        "digest": schema_digest(t.schema),
        "columns": [
            {
                "name": c.name,
                "type": show_column(c),
                **({"checks": [ir_converter.unstructure(k) for k in c.checks]} if c.checks else {}),
            }
            for c in t.schema.columns
        ],
    }


def write_executor_output(ei: dict[str, Any], result: dict[str, Any]) -> None:
    _write_output(Path(ei["outputs"]["outputFile"]), json.dumps(result).encode())


def handles_for_record(outputs: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
    """Outputs as the lineage record names them: artifacts by the URI Vertex keeps."""
    out = dict(outputs)
    for key, arts in written.get("artifacts", {}).items():
        a = arts["artifacts"][0]
        out[key] = {"uri": a["uri"], "sha256": a["metadata"].get("sha256"), "format": a["metadata"].get("format")}
    return out


def _root(args: argparse.Namespace, ei: dict[str, Any]) -> Path:
    root = args.pipeline_root or ""
    if not root or "{{" in root:  # the placeholder was not substituted: stay next to the outputs
        return Path(ei["outputs"]["outputFile"]).parent
    return local_path(root)


def _given_root(args: argparse.Namespace) -> bool:
    return bool(args.pipeline_root) and "{{" not in args.pipeline_root


def write_record(root: Path, record: Any) -> Path:
    """The record as an immutable content-addressed object next to the run's artifacts:
    ``<pipeline root>/typedflow/lineage/<run_id>/<sha256>.json`` (``gs://`` through the /gcs/ mount)."""
    from typedflow.lineage.cloud import put_dir

    return Path(put_dir(record, root / "typedflow").uri)


def _attempt(root: Path, run_id: str, node: str, template: ir.TaskTemplate, inputs: dict[str, Any]) -> int:
    """Vertex does not tell a container its attempt: 1 + the failed records of this node instance,
    i.e. of this node with these inputs (a map's items run the same node, each on its own item)."""
    from typedflow.lineage.cloud import iter_dir
    from typedflow.runtime.recording import value_refs

    mine = sorted((r.name, r.digest) for r in value_refs(inputs, template.inputs))
    n = 0
    for obj in iter_dir(root / "typedflow", run_id=run_id):
        try:
            rec = json.loads(obj.body)
            if rec.get("node_id") != node or rec.get("status") != "failed":
                continue
            if sorted((r["name"], r["digest"]) for r in rec.get("inputs") or ()) == mine:
                n += 1
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # not a task record this runtime wrote
    return n + 1


def run_task(args: argparse.Namespace, ei: dict[str, Any]) -> int:
    from typedflow.runtime.execute import TaskError, execute
    from typedflow.runtime.recording import task_record
    from typedflow.util.timestamps import utcnow

    payload = step_arg(args.task, "--task")
    ei = with_artifact_lists(ei, payload.get("lists"))
    template = step_args.template(payload)
    workflow, node, job = payload["workflow"], payload["node"], args.job or ""
    if "{{" in job:
        job = ""
    root = _root(args, ei)
    if args.code:  # the task's module comes from the code bundle under the pipeline root
        from typedflow.shipping.codestore import LocalCode, fetch
        from typedflow.shipping.imports import activate

        try:
            activate(args.code, lambda: fetch(args.code, LocalCode(root)))
        except BoundaryError as exc:
            sys.stderr.write(f"typedflow.RequestError: {exc}\n")
            return 1
    failure = upstream_failure(ei, payload)
    if failure:  # an executor of this tolerant map item it depends on failed: stand down, passing it on
        _stand_down(ei, template, payload, failure)
        return 0
    if payload.get("on_failure"):
        if "caught" in payload:  # inside a tolerant map item: what it handles reported no failure
            if not first_flag(ei, payload["caught"], "caught failure flags"):
                write_executor_output(ei, {"parameterValues": {payload["tolerate"]: ""}})
                return 0
        else:
            status = _status(ei, "status")
            if str(status.get("state", "")).upper() in ("SUCCEEDED", "SKIPPED", "CACHED"):
                write_executor_output(ei, {})
                return 0
    inputs = build_inputs(ei, template, payload["plan"], workflow, job)
    try:
        inputs = _constants_under_root(args, inputs, template.inputs)
    except BoundaryError as exc:
        sys.stderr.write(f"typedflow.InputError: {exc}\n")
        return 1
    # What Vertex passed must be of the declared type: never coerced (1.5 is no int); an int where a
    # float is declared is that float, and a dict's entries are in key order (normal_form), as on every target.
    for p in template.inputs:
        err = check_json(inputs.get(p.name), p.type, f"input {p.name!r} of task {template.name}")
        if err:
            sys.stderr.write(f"typedflow.InputError: {err}\n")
            return 1
        if p.name in inputs:
            inputs[p.name] = normal_form(inputs[p.name], p.type)
    run_id = job or uuid.uuid4().hex
    attempt = _attempt(root, run_id, node, template, inputs)
    store = _Store(root / "typedflow" / "store", root if _given_root(args) else None)
    scratch = Path(tempfile.mkdtemp(prefix="tf-vertex-"))
    started = utcnow()
    common = dict(
        doc_name=workflow,
        ir_digest=payload["ir_digest"],
        run_id=run_id,
        target="vertex",
        executor="vertex-container",
        template=template,
        node_id=node,
        attempt=attempt,
        inputs=inputs,
    )
    kept = _runs_base(args, run_id)
    try:
        outcome = execute(
            template,
            inputs,
            store=store,
            use_cache=False,
            scratch=scratch,
            context=RunContext(run_id, workflow, node, attempt, payload["ir_digest"], "vertex"),
            log=(lambda text: keep_log(kept, node, attempt, text)) if kept is not None else None,
        )
    except TaskError as err:
        final = _final(template, err, attempt)
        tolerated = bool(payload.get("tolerate")) and final  # its map tolerates failed items: see run_tolerance
        if kept is not None and final and not tolerated:
            keep_failure(
                kept,
                {
                    "workflow": workflow,
                    "run_id": run_id,
                    "node": node,
                    "error_type": err.error_type,
                    "message": err.message,
                    "traceback": err.traceback,
                },
            )
        write_record(
            root,
            task_record(
                **common,
                status="failed",
                outputs={},
                started_at=started,
                ended_at=utcnow(),
                cache_key=None,
                error=f"{err.error_type}: {err.message}"[:2000],
            ),
        )
        sys.stderr.write(err.traceback or f"{err.error_type}: {err.message}\n")
        if tolerated:  # the item failed for good: stand-ins, and the failure as an output
            reported = {"error_type": err.error_type, "message": err.message, "node": node}
            _stand_down(ei, template, payload, json.dumps(reported))
            return 0
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    flags: dict[str, Any] = {payload["ran"]: True} if payload.get("ran") else {}
    if payload.get("tolerate"):
        flags[payload["tolerate"]] = ""
    written = write_outputs(ei, outcome.outputs, template, flags)
    write_record(
        root,
        task_record(
            **common,
            status="succeeded",
            outputs=handles_for_record(outcome.outputs, written),
            started_at=outcome.started_at,
            ended_at=outcome.ended_at,
            cache_key=outcome.cache_key,
        ),
    )
    return 0


def upstream_failure(ei: dict[str, Any], payload: dict[str, Any]) -> str:
    """The first failure the executors of a tolerant map item this one depends on reported (``upstream``: the
    inputs holding their flags), or ''."""
    return first_flag(ei, payload.get("upstream") or [], "upstream failure flags")


def first_flag(ei: dict[str, Any], keys: Any, what: str) -> str:
    """The first failure flag set among the inputs ``keys``, or ''."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BoundaryError(f"the {what} of a payload must be a list of input names")
    for key in keys:
        failure = read_input(ei, key)
        if failure is None or failure == "":
            continue
        if not isinstance(failure, str):
            raise BoundaryError(f"the failure flag {key!r} must be a string ('' when it did not fail)")
        return failure
    return ""


STAND_IN = "typedflow-stand-in"
"""Metadata of an output artifact a task of a failed tolerant map item wrote in place of its file (empty)."""


def _stand_down(ei: dict[str, Any], template: ir.TaskTemplate, payload: dict[str, Any], failure: str) -> None:
    """Outputs of a task of a failed tolerant map item: stand-ins (an empty file or directory for a file
    artifact, which Vertex uploads as any output), the failure, and its presence flag unset. What reads them
    stands down on the failure."""
    params: dict[str, Any] = {payload["tolerate"]: failure}
    if payload.get("ran"):
        params[payload["ran"]] = False
    out_arts = ei.get("outputs", {}).get("artifacts", {})
    arts: dict[str, Any] = {}
    for p in template.outputs:
        if p.name not in out_arts:
            params[p.name] = stand_in(p.type)
            continue
        art = dict(out_arts[p.name]["artifacts"][0])
        path = local_path(art["uri"])
        if p.type.kind == "directory":
            _output_dir(path)
        else:
            _write_output(path, b"")
        art["metadata"] = {**(art.get("metadata") or {}), STAND_IN: True}
        art.pop("type", None)
        arts[p.name] = {"artifacts": [art]}
    write_executor_output(ei, {"parameterValues": params, "artifacts": arts})


def _constants_under_root(
    args: argparse.Namespace, values: dict[str, Any], params: tuple[ir.Param, ...]
) -> dict[str, Any]:
    """``values`` with each constant file the spec names under the pipeline root found there."""
    from .constants import resolve

    root = args.pipeline_root if _given_root(args) else None
    types = {p.name: p.type for p in params}
    return {
        k: resolve(v, types[k], root, lambda uri: local_path(uri).exists()) if k in types else v
        for k, v in values.items()
    }


def _runs_base(args: argparse.Namespace, job: str) -> Path | None:
    """``<pipeline root>/typedflow/runs/<job>`` through the mount, when Vertex said both."""
    if not _given_root(args) or not job or "{{" in job:
        return None
    return local_path(run_dir(args.pipeline_root, job))


def _final(template: ir.TaskTemplate, err: Any, attempt: int) -> bool:
    from typedflow.runtime.retry import retryable

    return attempt >= template.retry.attempts or not retryable(template.retry, err)


def run_outputs(args: argparse.Namespace, ei: dict[str, Any]) -> int:
    """The workflow's outputs, typed, into ``<pipeline root>/typedflow/runs/<job>/outputs.json``."""
    payload = step_arg(args.outputs, "--outputs")
    ei = with_artifact_lists(ei, payload.get("lists"))
    outputs = {}
    for name, t_json in payload["types"].items():
        t = type_arg(t_json, f"--outputs: types.{name}")
        try:
            value = _constants_under_root(args, {name: coerce(read_input(ei, name), t)}, (ir.Param(name, t),))[name]
        except BoundaryError as exc:
            sys.stderr.write(f"typedflow.OutputError: {exc}\n")
            return 1
        err = check_json(value, t, f"output {name!r}")
        if err:
            sys.stderr.write(f"typedflow.OutputError: {err}\n")
            return 1
        outputs[name] = value
    base = _runs_base(args, args.job)
    if base is not None:
        keep_outputs(base, outputs, outputs.get("out") if payload.get("single") else outputs)
    write_executor_output(ei, {})
    return 0


def run_value(args: argparse.Namespace, ei: dict[str, Any]) -> int:
    """A value task: select a field, assemble a record or pass a value on, typed."""
    payload = step_arg(args.value, "--value")
    ei = with_artifact_lists(ei, payload.get("lists"))
    t = type_arg(payload["type"], "--value: type")
    tolerate = payload.get("tolerate")
    failure = upstream_failure(ei, payload)
    if tolerate and failure:  # in a tolerant map item whose executor it reads failed: stand down, passing it on
        write_executor_output(ei, {"parameterValues": {"out": stand_in(t), tolerate: failure}})
        return 0
    value = coerce(build_value(ei, payload["plan"]), t)
    write_executor_output(ei, {"parameterValues": {"out": value, **({tolerate: ""} if tolerate else {})}})
    return 0


def run_fail(args: argparse.Namespace, ei: dict[str, Any]) -> int:
    """``fail(message)``: the run fails with the message; in a tolerant map item the item does (its flag says so),
    unless what it is ordered after failed first (that failure is passed on)."""
    payload = step_arg(args.fail, "--fail")
    error, message = str(payload.get("error", "typedflow.Fail")), str(payload.get("message", ""))
    tolerate = payload.get("tolerate")
    if tolerate:
        own = {"error_type": error, "message": message, "node": str(payload.get("node", ""))}
        failure = upstream_failure(ei, payload) or json.dumps(own)
        write_executor_output(ei, {"parameterValues": {tolerate: failure}})
        return 0
    sys.stderr.write(f"{error}: {message}\n")
    return 1


def _failure_of(text: Any, what: int | str) -> dict[str, Any]:
    what = f"the failure of item {what}" if isinstance(what, int) else what
    failure = parse_json(text, what) if isinstance(text, str) else None
    if not isinstance(failure, dict):
        raise BoundaryError(f"{what} of a tolerant map is not a JSON object")
    return failure


def run_tolerance(args: argparse.Namespace, ei: dict[str, Any]) -> int:
    """After the loop of a map that tolerates failed items: its results with None for each item whose task
    failed, or the map's failure when more failed than it tolerates (the rule every target applies)."""
    from typedflow.runtime.tolerance import exceeds, tolerated_failures

    payload = step_arg(args.tolerance, "--tolerance")
    share = payload.get("share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise BoundaryError("--tolerance: 'share' must be a number from 0 to 1")
    if not isinstance(payload.get("type"), str):
        raise BoundaryError("--tolerance: 'type' must be the result type's JSON")
    names = payload.get("flags")
    if not isinstance(names, list) or not all(isinstance(k, str) for k in names):
        raise BoundaryError("--tolerance: 'flags' must name the failure lists of the item's tasks")
    t = type_arg(payload["type"], "--tolerance: type")
    tolerate = payload.get("tolerate")  # inside another tolerant map's item: report a failure, never fail
    upstream = upstream_failure(ei, payload)
    if tolerate and upstream:  # what the map read failed: its loop ran on a stand-in, which stood down
        write_executor_output(ei, {"parameterValues": {"out": stand_in(t), tolerate: upstream}})
        return 0
    results, lists = read_input(ei, "out"), [read_input(ei, k) for k in names]
    if not isinstance(results, list) or any(not isinstance(x, list) or len(x) != len(results) for x in lists):
        raise BoundaryError("the results and failure flags of a tolerant map must be lists of one length")
    if not all(isinstance(f, str) for flags in lists for f in flags):
        raise BoundaryError("each failure flag of a tolerant map must be a string ('' for an item that did not fail)")
    # an item failed when one of its tasks did (the first in body order says why; the others stood down)
    failed = [next((f for f in flags if f), "") for flags in zip(*lists, strict=True)] if lists else [""] * len(results)
    errors = [(i, _failure_of(f, i)) for i, f in enumerate(failed) if f]
    n, node = len(results), str(payload.get("node", "map"))
    if exceeds(share, len(errors), n):
        i, e = errors[0]
        message = (
            f"{len(errors):,} of the {n:,} items of map {node} failed, {tolerated_failures(share, n):,} tolerated; "
            f"item {i}: {e.get('error_type')}: {e.get('message')}"
        )
        sys.stderr.write(f"{TOLERANCE_ERROR}: {message}\n")
        if tolerate:  # the enclosing item failed: its map counts it
            failure = json.dumps({"error_type": TOLERANCE_ERROR, "message": message, "node": node})
            write_executor_output(ei, {"parameterValues": {"out": stand_in(t), tolerate: failure}})
            return 0
        base = _runs_base(args, args.job or "")
        if base is not None:
            keep_failure(base, {"node": node, "error_type": TOLERANCE_ERROR, "message": message, "traceback": None})
        return 1
    value = coerce([None if f else r for r, f in zip(results, failed, strict=True)], t)
    err = check_json(value, t, f"the results of map {node}")
    if err:  # what the items' tasks wrote is passed on typed, as a task's own outputs are
        raise BoundaryError(str(err))
    write_executor_output(ei, {"parameterValues": {"out": value, **({tolerate: ""} if tolerate else {})}})
    return 0


def run_const(args: argparse.Namespace, ei: dict[str, Any]) -> int:
    """Constant parameter outputs: what a branch that did not compute a value stands in with."""
    payload = step_arg(args.const, "--const")
    write_executor_output(ei, {"parameterValues": payload["outputs"]})
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m typedflow.runtime vertex")
    p.add_argument("--executor-input", required=True, help="the KFP executor input JSON ({{$}})")
    p.add_argument("--pipeline-root", default="")
    p.add_argument("--job", default="")
    p.add_argument("--code", default="", help="the digest of the code bundle under the pipeline root")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--task", help="JSON: the task template, node, workflow and input plan")
    mode.add_argument("--value", help="JSON: an input plan and the value's type")
    mode.add_argument("--const", help="JSON: constant parameter outputs (placeholders and presence flags)")
    mode.add_argument("--fail", help="JSON: the error and message a fail(...) of the workflow ends the run with")
    mode.add_argument("--outputs", help="JSON: the workflow outputs' types (writes them under the pipeline root)")
    mode.add_argument("--tolerance", help="JSON: a tolerant map's node, tolerated share and result type")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    from typedflow.files import register_resolver

    args = parse(argv)
    try:
        ei = parse_json(args.executor_input, "--executor-input")
        if not isinstance(ei, dict):
            raise BoundaryError("--executor-input: not a KFP executor input (a JSON object)")
        ei = executor_input.check_shape(ei)
        root = executor_input.pipeline_root(args.pipeline_root) if _given_root(args) else None
        executor_input.check_places(ei, root)
    except BoundaryError as exc:
        sys.stderr.write(f"typedflow.RequestError: {exc}\n")
        return 2
    register_resolver("gs", _gcs_resolver)
    if os.environ.get("TYPEDFLOW_VERTEX_DEBUG"):
        sys.stderr.write(json.dumps(ei, indent=2) + "\n")
    try:
        if args.task is not None:
            return run_task(args, ei)
        if args.outputs is not None:
            return run_outputs(args, ei)
        if args.value is not None:
            return run_value(args, ei)
        if args.tolerance is not None:
            return run_tolerance(args, ei)
        if args.fail is not None:
            return run_fail(args, ei)
        if args.const is not None:
            return run_const(args, ei)
    except BoundaryError as exc:
        sys.stderr.write(f"typedflow.RequestError: {exc}\n")
        return 2
    return 2  # argparse requires one mode
