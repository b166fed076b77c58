"""Running a workflow on the local interpreter: ``typedflow.run(wf, **inputs)``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.codec import dumps, loads
from typedflow.config import home
from typedflow.errors import InputError
from typedflow.runtime.execute import map_files
from typedflow.runtime.store import LocalStore
from typedflow.types import check_json


@attrs.frozen
class RunOptions:
    store: Path | None = None
    max_workers: int | None = None
    isolation: str = "thread"  # "thread" | "process"
    use_cache: bool = True
    resume: str | None = None
    clock: Any = None
    listener: Callable[[Any], None] | None = None
    lineage: bool = True


@attrs.frozen
class RunResult:
    """What a run produced: ``value`` is the typed Python return value."""

    run_id: str
    status: str  # "succeeded" | "failed"
    outputs: dict[str, Any]
    value: Any
    nodes: tuple[Any, ...]
    duration: float
    run_dir: Path

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def failures(self) -> list[Any]:
        return [n for n in self.nodes if n.status == "failed"]

    @property
    def cache_hits(self) -> int:
        return sum(1 for n in self.nodes if n.status == "cached")


def prepare_inputs(doc: ir.WorkflowIR, given: Mapping[str, Any], annotations: Mapping[str, Any] | None,
                   store: LocalStore, *, encoded: bool = False) -> dict[str, Any]:
    """Check every input against the workflow's types (all errors at once), store input files."""
    from typedflow.values import encode

    wf = doc.workflow
    errors: list[str] = []
    out: dict[str, Any] = {}
    known = {p.name for p in wf.inputs}
    for name in given:
        if name not in known:
            errors.append(f'unknown input "{name}" (the workflow takes: {", ".join(sorted(known)) or "nothing"})')
    for p in wf.inputs:
        if p.name not in given:
            if p.has_default:
                out[p.name] = p.default
            else:
                errors.append(f'missing input "{p.name}" ({p.type})')
            continue
        value = given[p.name]
        if not encoded:
            ann = annotations.get(p.name) if annotations else None
            value = _coerce_path(value, p.type)
            try:
                value = encode(value, ann) if ann is not None else value
            except Exception as exc:
                errors.append(f'input "{p.name}": expected {p.type}, got {type(value).__name__} ({exc})')
                continue
        err = check_json(value, p.type, f'input "{p.name}"')
        if err:
            errors.append(err + _got(given[p.name]))
            continue
        out[p.name] = value
    if errors:
        raise InputError("; ".join(errors))
    return {k: _store_files(v, _param(wf, k).type, store) for k, v in out.items()}


def _got(v: Any) -> str:
    return ""


def _param(wf: ir.Workflow, name: str) -> ir.Param:
    for p in wf.inputs:
        if p.name == name:
            return p
    raise KeyError(name)


def _coerce_path(value: Any, t: ir.TypeRef) -> Any:
    from typedflow.files import TypedDirectory, TypedFile

    if isinstance(value, str | os.PathLike) and t.kind in ("file", "directory"):
        cls = TypedFile if t.kind == "file" else TypedDirectory
        return cls.from_path(value)
    return value


def _store_files(data: Any, t: ir.TypeRef, store: LocalStore) -> Any:
    def put(v: dict[str, Any], ft: ir.TypeRef) -> dict[str, Any]:
        uri = v["uri"]
        if "://" in uri and not uri.startswith("file://"):
            return v
        path = Path(uri.removeprefix("file://"))
        if not path.exists():
            raise InputError(f"input file {path} does not exist")
        is_dir = ft.kind == "directory"
        if path.is_dir() != is_dir:
            raise InputError(f"input {path} is not a {'directory' if is_dir else 'file'}")
        uri, sha = store.put_dir(path) if is_dir else store.put_file(path)
        fmt = v.get("format")
        return {"uri": uri, "sha256": sha, "format": ft.name if fmt in (None, "typedflow.formats:Format") else fmt}

    return map_files(data, t, put)


def decode_value(outputs: dict[str, Any], wf: ir.Workflow, annotation: Any) -> Any:
    """The Python return value of a workflow from its typed-JSON outputs."""
    from typedflow.values import decode

    if wf.returns.kind == "none":
        return None
    data = outputs if (wf.returns.kind == "record" and wf.returns.flavor == "namedtuple") else outputs.get("out")
    if annotation is None:
        return data
    return decode(data, annotation)


def run(wf: Any, /, **inputs: Any) -> RunResult:
    """Run a ``@workflow`` on the local interpreter with default options."""
    return run_workflow(wf, inputs)


def run_workflow(wf: Any, inputs: Mapping[str, Any], options: RunOptions | None = None) -> RunResult:
    """Run a ``@workflow`` (or a loaded IR document) with explicit options."""
    from typedflow.dsl import Workflow

    options = options or RunOptions()
    if isinstance(wf, Workflow):
        doc, annotations, returns_ann = wf.ir, wf.annotations, wf.returns_annotation
    else:
        doc, annotations, returns_ann = wf, None, None
    return run_ir(doc, inputs, options, annotations=annotations, returns_annotation=returns_ann)


def run_ir(doc: ir.WorkflowIR, inputs: Mapping[str, Any], options: RunOptions, *,
           annotations: Mapping[str, Any] | None = None, returns_annotation: Any = None,
           encoded: bool = False) -> RunResult:
    from typedflow.backends.local.interpreter import Interpreter, new_run_id
    from typedflow.backends.local.isolation import ProcessRunner, Runner, ThreadRunner
    from typedflow.backends.local.journal import Journal
    from typedflow.backends.local.retry import Clock

    root = Path(options.store) if options.store else home()
    store = LocalStore(root / "store")
    runs = root / "runs"
    resumed: dict[str, dict[str, Any]] | None = None
    if options.resume:
        run_id = options.resume
        journal = Journal(runs / run_id)
        if not (journal.dir / "ir.json").exists():
            raise InputError(f"no run {run_id!r} under {runs}")
        doc = loads((journal.dir / "ir.json").read_text("utf-8"))
        import json

        prepared = json.loads((journal.dir / "inputs.json").read_text("utf-8"))
        journal.repair()
        resumed = journal.finished()
    else:
        prepared = prepare_inputs(doc, inputs, annotations, store, encoded=encoded or annotations is None)
        run_id = new_run_id()
        journal = Journal.create(runs / run_id, dumps(doc), prepared,
                                 {"workflow": doc.workflow.name, "ir_digest": doc.digest})
    runner: Runner = ProcessRunner(store) if options.isolation == "process" else ThreadRunner(store)
    workers = options.max_workers or max(4, (os.cpu_count() or 2) * 2)
    listeners = [options.listener] if options.listener else []
    recorder = None
    if options.lineage:
        from typedflow.runtime.recording import LocalRecorder

        recorder = LocalRecorder(root, doc, run_id, executor=options.isolation)
        recorder.run_started(prepared)
        listeners.append(recorder.node)

    def listener(rep: Any) -> None:
        for fn in listeners:
            fn(rep)

    interp = Interpreter(doc, runner=runner, max_workers=workers, use_cache=options.use_cache,
                         clock=options.clock or Clock(), journal=journal, resumed=resumed,
                         listener=listener, run_id=run_id)
    t0 = time.perf_counter()
    try:
        ok, outputs = interp.run(prepared)
        if not ok and doc.workflow.on_failure is not None:
            _run_on_failure(doc, interp, runner, prepared, run_id, options.use_cache)
    finally:
        runner.close()
        journal.close()
    duration = time.perf_counter() - t0
    status = "succeeded" if ok else "failed"
    journal.write_status(status, {"duration": duration, "outputs": outputs})
    if recorder is not None:
        recorder.run_finished(status, outputs)
        recorder.close()
    value = decode_value(outputs, doc.workflow, returns_annotation) if ok else None
    return RunResult(run_id, status, outputs, value, tuple(interp.reports.values()), duration, journal.dir)


def _run_on_failure(doc: ir.WorkflowIR, interp: Any, runner: Any, inputs: dict[str, Any], run_id: str,
                    use_cache: bool) -> None:
    from typedflow.backends.local.bindings import Env, resolve
    from typedflow.backends.local.interpreter import FAILED, SUCCEEDED, NodeReport
    from typedflow.runtime.execute import TaskError

    of = doc.workflow.on_failure
    assert of is not None
    first = interp.failures[0] if interp.failures else None
    failure = {
        "workflow": doc.workflow.name,
        "run_id": run_id,
        "node": first.node if first else "",
        "error_type": first.error_type if first else "",
        "message": first.message if first else "",
        "traceback": first.traceback if first else "",
    }
    env = Env({**inputs, "$failure": failure})
    args = {a.param: resolve(a.value, env) for a in of.args}
    template = doc.task(of.task)
    key = f"on_failure/{of.task}"
    try:
        outcome = runner.run(template, args, False)
        interp.report(NodeReport(key, "on_failure", of.task, SUCCEEDED, attempts=1, inputs=args,
                                 outputs=outcome.outputs, started_at=outcome.started_at, ended_at=outcome.ended_at))
    except TaskError as err:
        interp.report(NodeReport(key, "on_failure", of.task, FAILED, attempts=1, inputs=args,
                                 error_type=err.error_type, message=err.message, traceback=err.traceback))
