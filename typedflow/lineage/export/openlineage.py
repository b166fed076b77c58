"""OpenLineage 2-0-2 RunEvents: START and COMPLETE/FAIL/ABORT for each task run and each workflow run."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import IO, Any, Final
from urllib.parse import unquote, urlsplit

from typedflow._version import __version__
from typedflow.lineage.export.checkpoints import Checkpoints
from typedflow.lineage.record import LineageRecord, ValueRef

__all__ = [
    "JOB_NAMESPACE",
    "PRODUCER",
    "RUN_EVENT_SCHEMA_URL",
    "TYPEDFLOW_FACET_SCHEMA_URL",
    "Checkpoints",
    "dataset_name",
    "iter_openlineage",
    "record_events",
    "to_openlineage",
    "write_openlineage",
]

JOB_NAMESPACE: Final = "typedflow"
PRODUCER: Final = f"https://typedflow.dev/typedflow/{__version__}"
RUN_EVENT_SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
TYPEDFLOW_FACET_SCHEMA_URL: Final = (
    "https://typedflow.dev/spec/facets/1-0-0/TypedflowLineageRunFacet.json#/$defs/TypedflowLineageRunFacet"
)
_FACETS: Final = "https://openlineage.io/spec/facets/"
_PARENT_URL: Final = _FACETS + "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
_ERROR_URL: Final = _FACETS + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
_ENGINE_URL: Final = _FACETS + "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet"
_TAGS_URL: Final = _FACETS + "1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet"
_JOB_TYPE_URL: Final = _FACETS + "2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
_VERSION_URL: Final = _FACETS + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
_SCHEMA_URL: Final = _FACETS + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
_CODE_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
_UUID_NS: Final = uuid.UUID("5b8c2a9e-3f0d-4c41-9d6e-7a1b0c2d3e4f")
_TERMINAL: Final = {"succeeded": "COMPLETE", "cached": "COMPLETE", "failed": "FAIL", "skipped": "ABORT"}


def _as_uuid(value: str, kind: str) -> str:
    """OpenLineage run ids are UUIDs: keep one that is, else derive a stable one."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(_UUID_NS, f"{kind}:{value}"))


def _facet(schema_url: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **fields}


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) following the OpenLineage dataset naming conventions."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return "file", unquote(parts.path) if parts.scheme else uri
    if parts.scheme in ("s3", "gs", "s3a", "gcs"):
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def _dataset(ref: ValueRef) -> dict[str, Any]:
    assert ref.uri is not None
    namespace, name = dataset_name(ref.uri)
    version = ref.sha256 or ref.digest
    facets = {"version": _facet(_VERSION_URL, datasetVersion=version, typedflowDigest=ref.digest)}
    if ref.columns is not None:  # a table file declared with a column schema
        fields = [{"name": n, "type": t, "ordinal_position": i} for i, (n, t) in enumerate(ref.columns, 1)]
        facets["schema"] = _facet(_SCHEMA_URL, fields=fields, typedflowSchemaDigest=ref.schema_digest)
    return {"namespace": namespace, "name": name or PurePosixPath(ref.uri).name, "facets": facets}


def _run_facets(
    record: LineageRecord, record_hash: str, parent_run: str | None, checkpoints: Checkpoints | None = None
) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "processing_engine": _facet(
            _ENGINE_URL, name="typedflow", version=record.typedflow_version, openlineageAdapterVersion=__version__
        ),
        "tags": _facet(
            _TAGS_URL,
            tags=[
                {"key": "typedflow.status", "value": record.status, "source": "TYPEDFLOW"},
                {"key": "typedflow.target", "value": record.target, "source": "TYPEDFLOW"},
                {"key": "typedflow.executor", "value": record.executor, "source": "TYPEDFLOW"},
                {"key": "typedflow.attempt", "value": str(record.attempt), "source": "TYPEDFLOW"},
            ],
        ),
    }
    code = record.code_digest if record.kind == "task" else record.ir_digest
    code = code if code and _CODE_DIGEST.match(code) else record.ir_digest
    if _CODE_DIGEST.match(code) and record.seq >= 0:
        facets["typedflow_lineage"] = _facet(
            TYPEDFLOW_FACET_SCHEMA_URL,
            seq=record.seq,
            recordHash=record_hash,
            prevHash=record.prev_hash,
            codeDigest=code,
            logOrigin=record.log_origin,
            recordId=record.record_id,
        )
        signed = checkpoints.covering(record.seq) if checkpoints is not None else None
        if signed is not None:
            # The whole signed checkpoint: with the chain up to its seq (a bundle) anyone holding the
            # public key can check that this record is one its signer appended.
            facets["typedflow_lineage"]["keyId"] = signed["key_id"]
            facets["typedflow_lineage"]["checkpoint"] = dict(signed)
    if parent_run is not None:
        facets["parent"] = _facet(
            _PARENT_URL,
            run={"runId": parent_run},
            job={"namespace": JOB_NAMESPACE, "name": record.workflow},
        )
    if record.status == "failed":
        facets["errorMessage"] = _facet(_ERROR_URL, message=record.error or "failed", programmingLanguage="python")
    return facets


def record_events(
    record: LineageRecord, record_hash: str, checkpoints: Checkpoints | None = None
) -> list[dict[str, Any]]:
    """The RunEvents for one record: START and/or a terminal event."""
    workflow_run = _as_uuid(record.run_id, "run")
    if record.kind == "task":
        run_id = _as_uuid(record.record_id, "record")
        job_name = f"{record.workflow}.{record.node_id or record.task or record.record_id}"
        job_type = "TASK"
        parent: str | None = workflow_run
    else:
        run_id, job_name, job_type, parent = workflow_run, record.workflow, "DAG", None
    run = {"runId": run_id, "facets": _run_facets(record, record_hash, parent, checkpoints)}
    job = {
        "namespace": JOB_NAMESPACE,
        "name": job_name,
        "facets": {"jobType": _facet(_JOB_TYPE_URL, processingType="BATCH", integration="TYPEDFLOW", jobType=job_type)},
    }
    inputs = [_dataset(r) for r in record.inputs if r.uri]
    outputs = [_dataset(r) for r in record.outputs if r.uri]

    def event(event_type: str, time: str, with_outputs: bool) -> dict[str, Any]:
        return {
            "eventType": event_type,
            "eventTime": time,
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA_URL,
            "run": run,
            "job": job,
            "inputs": inputs,
            "outputs": outputs if with_outputs else [],
        }

    if record.kind == "run_start":
        return [event("START", record.started_at, False)]
    terminal = _TERMINAL.get(record.status, "COMPLETE")
    end_time = record.ended_at or record.started_at
    if record.kind == "run_end":
        return [event(terminal, end_time, False)]
    return [event("START", record.started_at, False), event(terminal, end_time, terminal == "COMPLETE")]


def iter_openlineage(
    records: Iterable[tuple[LineageRecord, str]], checkpoints: Checkpoints | None = None
) -> Iterator[dict[str, Any]]:
    """RunEvents for (record, record_hash) pairs in log order, streamed; with the log's
    ``checkpoints``, each record's facet carries the signed checkpoint that covers it and its key id.

    Log order already puts a workflow run's START before its tasks and each task's START before
    its terminal event, so nothing needs to be held in memory to sort.
    """
    for record, record_hash in records:
        yield from record_events(record, record_hash, checkpoints)


def to_openlineage(records: Iterable[tuple[LineageRecord, str]]) -> list[dict[str, Any]]:
    """All RunEvents of :func:`iter_openlineage` as a list."""
    return list(iter_openlineage(records))


def write_openlineage(events: Iterable[dict[str, Any]], out: IO[str], *, jsonl: bool = False) -> int:
    """Write events as one JSON array, or one event per line. Returns the number written."""
    n = 0
    if jsonl:
        for ev in events:
            out.write(json.dumps(ev, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
            n += 1
        return n
    out.write("[")
    for ev in events:
        out.write(",\n" if n else "\n")
        out.write(json.dumps(ev, separators=(",", ":"), ensure_ascii=False))
        n += 1
    out.write("\n]\n")
    return n
