"""W3C PROV-JSON built with the ``prov`` package (imported only when this export is used)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from typedflow.ir.canonical import canonical_json
from typedflow.lineage.export.checkpoints import Checkpoints
from typedflow.lineage.record import LineageRecord, ValueRef

if TYPE_CHECKING:
    from prov.model import ProvDocument

__all__ = ["TF_NS", "to_prov_document", "to_prov_json"]

TF_NS: Final = "https://typedflow.dev/ns/lineage#"
_SAFE: Final = re.compile(r"[^A-Za-z0-9_.-]")


def _local(text: str) -> str:
    """A QName local part: keep it readable, replace what PROV-N would reject."""
    return _SAFE.sub("_", text)


def _value_id(ref: ValueRef) -> str:
    # Values are identified by their typed digest, so one value has one entity across runs.
    return "tfval:" + _local(ref.digest.replace("sha256:", "sha256-"))


def to_prov_document(
    records: Iterable[tuple[LineageRecord, str]], checkpoints: Checkpoints | None = None
) -> ProvDocument:
    """Entities for values/files, activities for task runs and workflow runs, agents for user/host/typedflow.

    With the log's ``checkpoints``, each signed checkpoint that covers a record is an entity
    (``tf:SignedCheckpoint``, the whole signed line in ``tf:checkpoint``) attributed to its signing key (an agent
    named by its key id), and each activity names the checkpoint that covers its record and that key id.
    """
    from prov.model import PROV, PROV_LOCATION, PROV_TYPE, ProvDocument

    doc = ProvDocument()
    tf = doc.add_namespace("tf", TF_NS)
    doc.add_namespace("tfval", "urn:typedflow:value:")
    doc.add_namespace("tfrun", "urn:typedflow:run:")
    doc.add_namespace("tfrec", "urn:typedflow:record:")
    doc.add_namespace("tfagent", "urn:typedflow:agent:")
    tfcp = doc.add_namespace("tfcp", "urn:typedflow:checkpoint:") if checkpoints is not None else None

    seen_entities: set[str] = set()
    seen_agents: set[str] = set()
    runs: dict[str, dict[str, Any]] = {}
    delegations: set[tuple[str, str]] = set()

    def agent(identifier: str, attrs: dict[Any, Any]) -> None:
        if identifier not in seen_agents:
            seen_agents.add(identifier)
            doc.agent(identifier, attrs)

    def signed(record: LineageRecord) -> dict[Any, Any]:
        """The attributes naming the checkpoint that covers ``record`` (adding it on first use)."""
        cp = checkpoints.covering(record.seq) if checkpoints is not None else None
        if cp is None or tfcp is None:
            return {}
        key = f"tfagent:key-{cp['key_id']}"
        ident = tfcp[f"{cp['key_id']}-{cp['seq']}"]
        if str(ident) not in seen_entities:
            seen_entities.add(str(ident))
            agent(key, {PROV_TYPE: tf["SigningKey"], "tf:keyId": cp["key_id"]})
            fields: dict[Any, Any] = {
                PROV_TYPE: tf["SignedCheckpoint"],
                "tf:from": cp["from"],
                "tf:seq": cp["seq"],
                "tf:head": cp["head"],
                "tf:keyId": cp["key_id"],
                "tf:alg": cp["alg"],
                "tf:time": cp["time"],
                # The exact signed line: with the chain up to tf:seq, anyone holding the public key checks it.
                "tf:checkpoint": canonical_json(cp),
            }
            doc.entity(ident, fields)
            doc.wasAttributedTo(ident, key)
        return {"tf:checkpoint": ident, "tf:keyId": cp["key_id"]}

    def entity(ref: ValueRef) -> str:
        ident = _value_id(ref)
        if ident not in seen_entities:
            seen_entities.add(ident)
            attrs: dict[Any, Any] = {"tf:digest": ref.digest, "tf:name": ref.name}
            if ref.uri:
                attrs[PROV_LOCATION] = ref.uri
                attrs[PROV_TYPE] = tf["File"]
            if ref.sha256:
                attrs["tf:sha256"] = ref.sha256
            doc.entity(ident, attrs)
        return ident

    for record, record_hash in records:
        user = f"tfagent:user-{_local(record.user)}"
        host = f"tfagent:host-{_local(record.host)}"
        software = f"tfagent:typedflow-{_local(record.typedflow_version)}"
        agent(user, {PROV_TYPE: PROV["Person"], "tf:user": record.user})
        agent(host, {PROV_TYPE: tf["Host"], "tf:host": record.host})
        agent(software, {PROV_TYPE: PROV["SoftwareAgent"], "tf:version": record.typedflow_version})
        if (software, user) not in delegations:
            delegations.add((software, user))
            doc.actedOnBehalfOf(software, user)
        chain: dict[Any, Any] = {"tf:seq": record.seq, "tf:recordHash": record_hash, "tf:recordId": record.record_id}
        run_ident = f"tfrun:{_local(record.run_id)}"
        if record.kind in ("run_start", "run_end"):
            run = runs.setdefault(
                run_ident,
                {
                    "start": record.started_at,
                    "end": None,
                    "agents": (user, host, software),
                    "attrs": {
                        PROV_TYPE: tf["WorkflowRun"],
                        "tf:workflow": record.workflow,
                        "tf:irDigest": record.ir_digest,
                        "tf:target": record.target,
                        "tf:runId": record.run_id,
                    },
                },
            )
            cover = signed(record)
            if record.kind == "run_start":
                run["attrs"].update({"tf:startSeq": record.seq, "tf:startRecordHash": record_hash})
                if cover:
                    run["attrs"].update({"tf:startCheckpoint": cover["tf:checkpoint"], "tf:keyId": cover["tf:keyId"]})
            else:
                run["end"] = record.ended_at
                run["attrs"].update(
                    {"tf:status": record.status, "tf:endSeq": record.seq, "tf:endRecordHash": record_hash}
                )
                if cover:
                    run["attrs"].update({"tf:endCheckpoint": cover["tf:checkpoint"], "tf:keyId": cover["tf:keyId"]})
            continue
        act_ident = f"tfrec:{_local(record.record_id)}"
        attrs: dict[Any, Any] = {
            PROV_TYPE: tf["TaskRun"],
            "tf:workflow": record.workflow,
            "tf:runId": record.run_id,
            "tf:node": record.node_id or "",
            "tf:task": record.task or "",
            "tf:status": record.status,
            "tf:attempt": record.attempt,
            "tf:executor": record.executor,
            "tf:target": record.target,
            "tf:irDigest": record.ir_digest,
            "tf:prevHash": record.prev_hash,
            "tf:logOrigin": record.log_origin,
            **chain,
            **signed(record),
        }
        for key, value in (
            ("tf:codeDigest", record.code_digest),
            ("tf:image", record.image),
            ("tf:cacheKey", record.cache_key),
            ("tf:error", record.error),
        ):
            if value is not None:
                attrs[key] = value
        if record.parameters:
            attrs["tf:parameters"] = canonical_json(record.parameters)
        doc.activity(act_ident, record.started_at, record.ended_at, attrs)
        doc.wasAssociatedWith(act_ident, user)
        doc.wasAssociatedWith(act_ident, host)
        doc.wasAssociatedWith(act_ident, software)
        used = [entity(ref) for ref in record.inputs]
        for ident in used:
            doc.used(act_ident, ident, record.started_at)
        if record.status != "succeeded":
            # Only a run that computed its outputs generated them (a cached run reused them).
            continue
        for ref in record.outputs:
            out = entity(ref)
            doc.wasGeneratedBy(out, act_ident, record.ended_at)
            for ident in used:
                doc.wasDerivedFrom(out, ident, act_ident)
    for run_ident, run in runs.items():
        doc.activity(run_ident, run["start"], run["end"], run["attrs"])
        for who in run["agents"]:
            doc.wasAssociatedWith(run_ident, who)
    return doc


def to_prov_json(
    records: Iterable[tuple[LineageRecord, str]], checkpoints: Checkpoints | None = None, *, indent: int | None = None
) -> str:
    """PROV-JSON text of :func:`to_prov_document`."""
    out = to_prov_document(records, checkpoints).serialize(format="json", indent=indent)
    assert isinstance(out, str)
    return out
