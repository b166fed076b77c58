"""Running a workflow on the local interpreter: ``typedflow.run(wf, **inputs)``."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from typedflow import ir
from typedflow.errors import InputError
from typedflow.runtime.inputs import check_inputs, store_input_files
from typedflow.runtime.reports import TOLERATED, NodeReport
from typedflow.runtime.store import LocalStore
from typedflow.util.boundary import BoundaryError

# The key of the local run journal's line that ends a run (node instance keys never start with "$").
# A run id as --resume and the runs commands take it: a run directory's name, never a path.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


@attrs.frozen
class RunOptions:
    store: Path | None = None
    max_workers: int | None = None
    isolation: Literal["thread", "process"] = "thread"
    use_cache: bool = True
    resume: str | None = None
    clock: Any = None
    listener: Callable[[NodeReport], None] | None = None  # every node report and progress event
    lineage: bool = True
    # SIGINT/SIGTERM stop the run cleanly and leave it resumable (the command line's choice; only on
    # the main thread); running thread tasks get ``stop_grace`` seconds to finish.
    signals: bool = False
    stop_grace: float = 5.0


@attrs.frozen
class RunResult:
    """What a run produced: ``value`` is the typed Python return value."""

    run_id: str
    status: Literal["succeeded", "failed"]
    outputs: dict[str, Any]
    value: Any
    nodes: tuple[NodeReport, ...]
    duration: float
    run_dir: Path

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def failures(self) -> list[Any]:
        """The failed nodes: what failed the run first, then items a map tolerated."""
        return sorted((n for n in self.nodes if n.status == "failed"), key=lambda n: n.reason == TOLERATED)

    @property
    def cache_hits(self) -> int:
        return sum(1 for n in self.nodes if n.status == "cached")


def prepare_inputs(
    doc: ir.WorkflowIR,
    given: Mapping[str, Any],
    annotations: Mapping[str, Any] | None,
    store: LocalStore,
    *,
    encoded: bool = False,
) -> dict[str, Any]:
    """Check every input against the workflow's types (all errors at once), store input files.
    Python values are first encoded by their annotation (``encoded=False``)."""
    from typedflow.files import TypedDirectory, TypedFile
    from typedflow.ir.values import encode

    data: dict[str, Any] = dict(given)
    if not encoded:
        errors = []
        types = {p.name: p.type for p in doc.workflow.inputs}
        for name, value in given.items():
            t, ann = types.get(name), annotations.get(name) if annotations else None
            if t is None or ann is None:
                continue
            if isinstance(value, str | os.PathLike) and t.kind in ("file", "directory"):
                value = (TypedFile if t.kind == "file" else TypedDirectory).from_path(value)
            try:
                data[name] = encode(value, ann)
            except Exception as exc:
                errors.append(f'input "{name}": expected {t}, got {type(value).__name__} ({exc})')
        if errors:
            raise InputError("; ".join(errors))

    return store_input_files(doc, check_inputs(doc, data), putter(store))


def putter(store: LocalStore) -> Callable[[Path, bool], tuple[str, str]]:
    """Store a local input file (False) or directory (True); an :class:`InputError` when it cannot be."""

    def put(path: Path, is_dir: bool) -> tuple[str, str]:
        try:
            return store.put_dir(path) if is_dir else store.put_file(path)
        except (OSError, BoundaryError) as exc:  # an unreadable input, or a store that cannot be written
            raise InputError(f"cannot copy input {path} into the store {store.root}: {exc}") from exc

    return put


def decode_value(outputs: dict[str, Any], wf: ir.Workflow, annotation: Any) -> Any:
    """The Python return value of a workflow from its typed-JSON outputs."""
    from typedflow.ir.values import decode

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
    options = options or RunOptions()
    if isinstance(wf, ir.WorkflowIR):
        doc, annotations, returns_ann = wf, None, None
    else:  # a Workflow: its annotations decode the inputs and the result as the Python declares them
        doc, annotations, returns_ann = wf.ir, wf.annotations, wf.returns_annotation
    return run_ir(doc, inputs, options, annotations=annotations, returns_annotation=returns_ann)


def run_ir(
    doc: ir.WorkflowIR,
    inputs: Mapping[str, Any],
    options: RunOptions,
    *,
    annotations: Mapping[str, Any] | None = None,
    returns_annotation: Any = None,
    encoded: bool = False,
) -> RunResult:
    """Run an IR document on the local interpreter (the ``local`` backend)."""
    # The interpreter is a backend like the others: the core reaches it by name only.
    local = importlib.import_module("typedflow.backends.local.runner")
    result: RunResult = local.run_ir(
        doc, inputs, options, annotations=annotations, returns_annotation=returns_annotation, encoded=encoded
    )
    return result
