"""Running a workflow on the local interpreter: ``typedflow.run(wf, **inputs)``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
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
    """Run an IR document on the local interpreter (the ``local`` backend)."""
    # The interpreter is a backend like the others: the core reaches it by name only.
    local = importlib.import_module("typedflow.backends.local.runner")
    result: RunResult = local.run_ir(doc, inputs, options, annotations=annotations,
                                     returns_annotation=returns_annotation, encoded=encoded)
    return result
