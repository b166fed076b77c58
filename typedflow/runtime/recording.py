"""Lineage records of task executions, written the same way by every target's runtime."""

from __future__ import annotations

import platform
from json.encoder import encode_basestring_ascii as _s
from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.canonical import digest
from typedflow.lineage.log import LineageLog
from typedflow.lineage.record import LineageRecord, ValueRef, new_record, safe_parameters, safe_value
from typedflow.lineage.stencil import (
    ColumnPairs,
    Prepared,
    RefTuple,
    TaskStencil,
    param_json,
    ref_json,
    value_ref_tail,
)
from typedflow.runtime.execute import content_digest, has_files
from typedflow.secret import sensitive
from typedflow.tables.schema import lineage_columns
from typedflow.timestamps import utcnow

_DEFAULT_IMAGE = f"python:{platform.python_version()}"  # the local interpreter's "image"
_RECORDED = frozenset({"succeeded", "cached", "failed", "skipped"})
REDACTED = "redacted"  # the digest a record gives a value whose name says it is a secret


def ref_tuples(
    values: dict[str, Any], params: tuple[ir.Param, ...], digests: dict[str, str] | None = None
) -> list[RefTuple]:
    """(name, digest, uri, sha256) of typed-JSON values, never the raw values; ``digests`` are
    content digests already computed (the cache key's parts)."""
    refs: list[RefTuple] = []
    for p in params:
        if p.name not in values:
            continue
        if sensitive(p.name):  # a secret's digest is never recorded (a short one could be guessed from it)
            refs.append((p.name, REDACTED, None, None))
            continue
        v = values[p.name]
        d = digests.get(p.name) if digests else None
        t = p.type.args[0] if p.type.kind == "optional" else p.type
        if t.kind in ("file", "directory") and isinstance(v, dict):
            ref: RefTuple = (p.name, d or content_digest(v, t), v.get("uri"), v.get("sha256"))
            refs.append(ref if t.schema is None else (*ref, *lineage_columns(t.schema)))
        else:
            refs.append((p.name, d or content_digest(v, p.type), None, None))
    return refs


def value_refs(
    values: dict[str, Any], params: tuple[ir.Param, ...], digests: dict[str, str] | None = None
) -> tuple[ValueRef, ...]:
    """:func:`ref_tuples` as :class:`ValueRef` objects."""
    return tuple(ValueRef(*r) for r in ref_tuples(values, params, digests))


def task_record(
    *,
    doc_name: str,
    ir_digest: str,
    run_id: str,
    target: str,
    executor: str,
    template: ir.TaskTemplate,
    node_id: str,
    status: str,
    attempt: int,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    started_at: str,
    ended_at: str | None,
    cache_key: str | None,
    error: str | None = None,
    input_digests: dict[str, str] | None = None,
) -> LineageRecord:
    """The record of one task execution attempt (identical schema on every target)."""
    return new_record(
        "task",
        run_id=run_id,
        workflow=doc_name,
        ir_digest=ir_digest,
        target=target,
        executor=executor,
        status=status,
        started_at=started_at or None,
        ended_at=ended_at,
        node_id=node_id,
        task=template.name,
        code_digest=template.code_digest,
        image=template.image or _DEFAULT_IMAGE,
        attempt=attempt,
        inputs=value_refs(inputs, template.inputs, input_digests),
        outputs=value_refs(outputs, template.outputs),
        parameters=safe_parameters({p.name: inputs.get(p.name) for p in template.inputs}),
        cache_key=cache_key,
        error=error,
    )


# Per parameter: name, type, whether a file or directory, whether it holds any (has_files), the
# ref's fixed end when it is not a file, and a table file's schema as its ref records it; a sensitive one is
# recorded by its name only (its type a marker).
_RefPlan = tuple[tuple[str, ir.TypeRef, bool, bool, str, tuple[ColumnPairs, str] | None], ...]
_REDACTED_TYPE = ir.TypeRef("secret")


def _ref_plan(params: tuple[ir.Param, ...]) -> _RefPlan:
    plan: list[tuple[str, ir.TypeRef, bool, bool, str, tuple[ColumnPairs, str] | None]] = []
    for p in params:
        if sensitive(p.name):
            plan.append((p.name, _REDACTED_TYPE, False, False, value_ref_tail(p.name), None))
            continue
        t = p.type.args[0] if p.type.kind == "optional" else p.type
        filelike = t.kind in ("file", "directory")
        schema = lineage_columns(t.schema) if filelike and t.schema is not None else None
        plan.append((p.name, p.type, filelike, has_files(p.type), value_ref_tail(p.name), schema))
    return tuple(plan)


def _refs_json(plan: _RefPlan, values: dict[str, Any], digests: dict[str, str] | None) -> str:
    """``refs_json(ref_tuples(values, params, digests))``, with the fixed parts of each ref made once."""
    parts = []
    for name, t, filelike, files, tail, schema in plan:
        if name not in values:
            continue
        if t is _REDACTED_TYPE:
            parts.append('{"digest":"' + REDACTED + '"' + tail)
            continue
        v = values[name]
        d = digests.get(name) if digests else None
        if filelike and isinstance(v, dict):
            inner = t.args[0] if t.kind == "optional" else t
            digest_ = d or content_digest(v, inner, True)
            parts.append(ref_json(name, digest_, v.get("uri"), v.get("sha256"), *(schema or (None, None))))
        else:
            parts.append('{"digest":' + _s(d or (content_digest(v, t, True) if files else digest(v))) + tail)
    return "[" + ",".join(parts) + "]"


def _plain_single(plan: _RefPlan) -> tuple[str, str] | None:
    """(name, ref tail) when the plan is one parameter that holds no file: its ref is then one concatenation."""
    if len(plan) == 1 and not plan[0][2] and not plan[0][3] and plan[0][1] is not _REDACTED_TYPE:
        return plan[0][0], plan[0][4]
    return None


class _TaskRecords:
    """How one task's records in a run are encoded: its stencil, and what of its refs and parameters
    never changes (``params``: each input that may be recorded, sorted, with its encoded key)."""

    __slots__ = ("inputs", "outputs", "params", "single_in", "single_out", "stencil")

    def __init__(self, stencil: TaskStencil, template: ir.TaskTemplate) -> None:
        self.stencil = stencil
        self.inputs = _ref_plan(template.inputs)
        self.outputs = _ref_plan(template.outputs)
        self.single_in = _plain_single(self.inputs)
        self.single_out = _plain_single(self.outputs)
        self.params = tuple((_s(n) + ":", n) for n in sorted(p.name for p in template.inputs if not sensitive(p.name)))

    def inputs_json(self, values: dict[str, Any], digests: dict[str, str] | None) -> str:
        single = self.single_in
        if single is not None and single[0] in values:
            d = digests.get(single[0]) if digests else None
            return '[{"digest":' + _s(d or digest(values[single[0]])) + single[1] + "]"
        return _refs_json(self.inputs, values, digests)

    def outputs_json(self, values: dict[str, Any]) -> str:
        single = self.single_out
        if single is not None and single[0] in values:
            return '[{"digest":' + _s(digest(values[single[0]])) + single[1] + "]"
        return _refs_json(self.outputs, values, None)

    def prepare(self, rep: Any) -> Prepared:
        """The record of a node report: the fields task_record() fills, as the same bytes, made from what
        never changes in a run."""
        inputs, outputs, status = rep.inputs, rep.outputs, rep.status
        si, so = self.single_in, self.single_out
        if (
            si is not None
            and so is not None
            and status != "failed"
            and rep.started_at
            and rep.ended_at
            and si[0] in inputs
            and so[0] in outputs
        ):
            # Most records: one plain input and output, no error. A digest ("sha256:" and hex digits)
            # needs no escaping.
            d = rep.input_digests.get(si[0]) if rep.input_digests else None
            return self.stencil.prepare_done(
                rep.key,
                status,
                rep.attempts,
                f'[{{"digest":"{d or digest(inputs[si[0]])}"{si[1]}]',
                f'[{{"digest":"{digest(outputs[so[0]])}"{so[1]}]',
                self.params_json(inputs),
                rep.started_at,
                rep.ended_at,
                rep.cache_key,
            )
        return self.stencil.prepare_encoded(
            node_id=rep.key,
            status=status,
            attempt=rep.attempts,
            inputs_json=self.inputs_json(inputs, rep.input_digests),
            outputs_json=self.outputs_json(outputs),
            parameters_json=self.params_json(inputs),
            started_at=rep.started_at or None,
            ended_at=rep.ended_at or None,
            cache_key=rep.cache_key,
            error=f"{rep.error_type}: {rep.message}"[:2000] if status == "failed" else None,
        )

    def params_json(self, inputs: dict[str, Any]) -> str:
        """``params_json(safe_parameters(inputs))`` for this task's inputs."""
        parts = []
        for key, name in self.params:
            v = safe_value(inputs.get(name))
            if v is not None:
                parts.append(key + param_json(v))
        return "{" + ",".join(parts) + "}"


class LocalRecorder:
    """Writes the records of a local run into the local hash-chained log (group commit).

    Called from the scheduler's one thread: records are gathered here and handed to the log a group
    at a time (the log's buffer takes a lock per call)."""

    def __init__(self, root: Path, doc: ir.WorkflowIR, run_id: str, executor: str) -> None:
        # Group commit: the scheduler encodes and writes each group of 100; its fdatasync runs on the
        # log's sync thread (it holds no GIL while waiting), and close() waits until all is durable.
        self.log = LineageLog(root / "lineage" / "log.jsonl")
        self.doc = doc
        self.run_id = run_id
        self.executor = executor
        self.tasks = {t.name: t for t in doc.tasks}
        self.encodings: dict[str, _TaskRecords] = {}
        self.started = ""
        self._group: list[Prepared] = []

    def _run_record(
        self, status: str, values: dict[str, Any], params: tuple[ir.Param, ...], ended: bool
    ) -> LineageRecord:
        rec = new_record(
            "run_end" if ended else "run_start",
            run_id=self.run_id,
            workflow=self.doc.workflow.name,
            ir_digest=self.doc.digest,
            target="local",
            executor=self.executor,
            status=status,
            started_at=self.started or None,
            ended_at=utcnow() if ended else None,
            inputs=() if ended else value_refs(values, params),
            outputs=value_refs(values, params) if ended else (),
            parameters=safe_parameters(values) if not ended else {},
        )
        if not ended:
            self.started = rec.started_at
        return rec

    def run_started(self, inputs: dict[str, Any]) -> None:
        self.log.append(self._run_record("started", inputs, self.doc.workflow.inputs, False))

    def _encoding(self, template: ir.TaskTemplate) -> _TaskRecords:
        stencil = TaskStencil(
            run_id=self.run_id,
            workflow=self.doc.workflow.name,
            ir_digest=self.doc.digest,
            target="local",
            executor=self.executor,
            task=template.name,
            code_digest=template.code_digest,
            image=template.image or _DEFAULT_IMAGE,
            log_origin=self.log.origin,
        )
        enc = self.encodings[template.name] = _TaskRecords(stencil, template)
        return enc

    def node(self, rep: Any) -> None:
        if rep.status not in _RECORDED or rep.task is None:
            return
        enc = self.encodings.get(rep.task) or self._encoding(self.tasks[rep.task])
        group = self._group
        group.append(enc.prepare(rep))
        if len(group) >= self.log.flush_every:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._group:
            group, self._group = self._group, []
            self.log.append_prepared(*group)

    def write_buffered(self) -> None:
        """Hand the records taken so far to the OS (see :meth:`LineageLog.write_buffered`)."""
        self._hand_over()
        self.log.write_buffered()

    def run_finished(self, status: str, outputs: dict[str, Any]) -> None:
        self._hand_over()
        self.log.append(self._run_record(status, outputs, self.doc.workflow.outputs, True))

    def close(self) -> None:
        try:
            self._hand_over()
        finally:
            self.log.close()
