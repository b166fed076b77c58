"""Lineage records of task executions, made the same way by every target's runtime.

:func:`task_record` builds a :class:`LineageRecord` (the cloud runtimes sign and upload it);
:class:`TaskRecords` encodes the same fields straight to a log line through the one record encoder
(:mod:`typedflow.lineage.encoding`), for the local interpreter's many records per run. Both take
the references to their values from :class:`RefPlan`.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any, TypeVar

from typedflow import ir
from typedflow._version import __version__
from typedflow.dsl.secret import sensitive
from typedflow.ir.canonical import digest
from typedflow.lineage.encoding import Prepared, RecordEncoder, params_json, ref_json
from typedflow.lineage.record import (
    LineageRecord,
    RecordStatus,
    ValueRef,
    identity,
    new_record,
    new_record_id,
    safe_parameters,
    safe_value,
)
from typedflow.runtime.execute import content_digest, has_files
from typedflow.tables.schema import lineage_columns

__all__ = ["DEFAULT_IMAGE", "REDACTED", "RecordValues", "RefPlan", "TaskRecords", "task_record", "value_refs"]

DEFAULT_IMAGE = f"python:{platform.python_version()}"  # the local interpreter's "image"
_PYTHON_VERSION = platform.python_version()
REDACTED = "redacted"  # the digest a record gives a value whose name says it is a secret
# A task record's references to its inputs and outputs, and its parameters, as the record holds them
# (JSON, see TaskRecords.values).
RecordValues = tuple[str, str, str]
R = TypeVar("R")


class RefPlan:
    """How a template's inputs or outputs are referenced in records, worked out once per template:
    per parameter its name, type, whether it is a file or directory, whether it holds any, and a table
    file's columns as records list them. A parameter whose name says it is a secret has no type here:
    it is recorded by name only."""

    __slots__ = ("params",)

    def __init__(self, params: tuple[ir.Param, ...]) -> None:
        plan: list[tuple[str, ir.TypeRef | None, bool, bool, tuple[Any, str] | None]] = []
        for p in params:
            if sensitive(p.name):
                plan.append((p.name, None, False, False, None))
                continue
            t = p.type.args[0] if p.type.kind == "optional" else p.type
            filelike = t.kind in ("file", "directory")
            schema = lineage_columns(t.schema) if filelike and t.schema is not None else None
            plan.append((p.name, p.type, filelike, has_files(p.type), schema))
        self.params = tuple(plan)

    def refs(self, values: dict[str, Any], digests: dict[str, str] | None = None) -> tuple[ValueRef, ...]:
        """References to typed-JSON values, never the values; ``digests``: content digests already
        computed (the cache key's parts)."""
        return tuple(self._each(values, digests, ValueRef))

    def encoded(self, values: dict[str, Any], digests: dict[str, str] | None = None) -> str:
        """:meth:`refs` as a record holds them (their JSON), without making them."""
        return "[" + ",".join(self._each(values, digests, ref_json)) + "]"

    def _each(self, values: dict[str, Any], digests: dict[str, str] | None, make: Callable[..., R]) -> list[R]:
        """``make(name, digest, uri, sha256, columns, schema_digest)`` of each reference (as far as set)."""
        refs: list[R] = []
        for name, t, filelike, files, schema in self.params:
            if name not in values:
                continue
            if t is None:  # a secret's digest is never recorded (a short one could be guessed from it)
                refs.append(make(name, REDACTED))
                continue
            v = values[name]
            d = digests.get(name) if digests else None
            if filelike and isinstance(v, dict):
                inner = t.args[0] if t.kind == "optional" else t
                d = d or content_digest(v, inner, True)
                if schema is None:
                    refs.append(make(name, d, v.get("uri"), v.get("sha256")))
                else:
                    refs.append(make(name, d, v.get("uri"), v.get("sha256"), *schema))
            else:
                refs.append(make(name, d or (content_digest(v, t, True) if files else digest(v))))
        return refs


def value_refs(
    values: dict[str, Any], params: tuple[ir.Param, ...], digests: dict[str, str] | None = None
) -> tuple[ValueRef, ...]:
    """References to typed-JSON values (see :meth:`RefPlan.refs`)."""
    return RefPlan(params).refs(values, digests)


def task_record(
    *,
    doc_name: str,
    ir_digest: str,
    run_id: str,
    target: str,
    executor: str,
    template: ir.TaskTemplate,
    node_id: str,
    status: RecordStatus,
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
        image=template.image or DEFAULT_IMAGE,
        attempt=attempt,
        inputs=value_refs(inputs, template.inputs, input_digests),
        outputs=value_refs(outputs, template.outputs),
        parameters=safe_parameters({p.name: inputs.get(p.name) for p in template.inputs}),
        cache_key=cache_key,
        error=error,
    )


_ENCODED = frozenset({"inputs", "outputs", "parameters"})  # the fields TaskRecords.values takes


class TaskRecords:
    """The records of one task in one run, written to one log: :func:`task_record`'s fields, encoded
    straight to a log line. What is the same for every execution of the task is encoded once."""

    __slots__ = ("encoder", "inputs", "outputs", "params")

    def __init__(
        self,
        *,
        doc_name: str,
        ir_digest: str,
        run_id: str,
        target: str,
        executor: str,
        template: ir.TaskTemplate,
        log_origin: str,
    ) -> None:
        user, host = identity()
        self.encoder = RecordEncoder(
            encoded=_ENCODED,
            kind="task",
            run_id=run_id,
            workflow=doc_name,
            ir_digest=ir_digest,
            target=target,
            executor=executor,
            task=template.name,
            code_digest=template.code_digest,
            image=template.image or DEFAULT_IMAGE,
            log_origin=log_origin,
            python_version=_PYTHON_VERSION,
            typedflow_version=__version__,
            user=user,
            host=host,
        )
        self.inputs = RefPlan(template.inputs)
        self.outputs = RefPlan(template.outputs)
        self.params = tuple(sorted(p.name for p in template.inputs if not sensitive(p.name)))

    def values(
        self, inputs: dict[str, Any], outputs: dict[str, Any], input_digests: dict[str, str] | None = None
    ) -> RecordValues:
        """What a record says of a task's values, as its JSON: taken as the task ends (a value may be a
        later task's input, which can change it in place); the rest of the record is encoded later, a
        group at a time, by :meth:`prepare`."""
        params = {n: v for n in self.params if (v := safe_value(inputs.get(n))) is not None}
        return self.inputs.encoded(inputs, input_digests), self.outputs.encoded(outputs), params_json(params)

    def prepare(
        self,
        *,
        node_id: str,
        status: str,
        attempt: int,
        values: RecordValues,
        started_at: str,
        ended_at: str | None,
        cache_key: str | None,
        error: str | None = None,
    ) -> Prepared:
        """The record, encoded around its chain fields (see :meth:`LineageLog.append_prepared`)."""
        inputs, outputs, parameters = values
        return self.encoder.prepare(
            attempt=attempt,
            cache_key=cache_key,
            ended_at=ended_at,
            error=error,
            inputs=inputs,
            node_id=node_id,
            outputs=outputs,
            parameters=parameters,
            record_id=new_record_id(),
            started_at=started_at,
            status=status,
        )
