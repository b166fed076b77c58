"""Read-side queries over a lineage log: runs, one run's nodes, and the upstream trace of an artifact."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs

from typedflow.lineage._chain import iter_raw_lines
from typedflow.lineage.attribution import IRLoader, Resolver, Source, key_pattern
from typedflow.lineage.hashing import file_uri, sha256_path
from typedflow.lineage.record import LineageRecord, ValueRef, record_from_bytes
from typedflow.runtime.store import dir_manifest

__all__ = [
    "NodeRun",
    "RunDetail",
    "RunSummary",
    "Trace",
    "TraceEdge",
    "TraceNode",
    "iter_records",
    "list_runs",
    "render_run",
    "render_runs",
    "render_trace",
    "show_run",
    "trace",
]

Entry = tuple[LineageRecord, str]
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")


def iter_records(path: str | os.PathLike[str]) -> Iterator[Entry]:
    """Complete records of a log file with their hashes, read-only (no lock, no repair)."""
    for _, line in iter_raw_lines(Path(path)):
        try:
            record = record_from_bytes(line)
        except RecursionError:  # a damaged line nested deeper than the parser goes: unreadable, as any other
            raise ValueError("a line nested too deeply to be a record") from None
        yield record, hashlib.sha256(line).hexdigest()


def _duration(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


# -- runs -------------------------------------------------------------------------------------


@attrs.define
class RunSummary:
    run_id: str
    workflow: str
    status: str
    started_at: str
    ended_at: str | None
    count: int
    target: str
    user: str


def list_runs(records: Iterable[Entry]) -> list[RunSummary]:
    """One summary per run, in order of first appearance in the log.

    Without a ``run_end`` record a run is ``failed?`` once a node's latest attempt failed, else
    ``running`` (a local run, which has its ``run_start``) or ``unrecorded`` (a cloud run: cloud
    runtimes write task records only, and the orchestrator keeps the run's own status)."""
    runs: dict[str, RunSummary] = {}
    started: set[str] = set()
    last_attempt: dict[tuple[str, str | None], LineageRecord] = {}
    for rec, _ in records:
        run = runs.get(rec.run_id)
        if run is None:
            run = runs[rec.run_id] = RunSummary(
                rec.run_id, rec.workflow, "running", rec.started_at, None, 0, rec.target, rec.user
            )
        run.count += 1
        run.started_at = min(run.started_at, rec.started_at)
        if rec.kind == "run_start":
            started.add(rec.run_id)
        elif rec.kind == "run_end":
            run.status = rec.status
            run.ended_at = rec.ended_at
        elif rec.kind == "task":
            key = (rec.run_id, rec.node_id)
            seen = last_attempt.get(key)
            if seen is None or rec.attempt >= seen.attempt:
                last_attempt[key] = rec
    failed = {run_id for (run_id, _), rec in last_attempt.items() if rec.status == "failed"}
    for run in runs.values():
        if run.ended_at is not None:
            continue
        if run.run_id in failed:
            run.status = "failed?"  # no run_end: interrupted, or a cloud run; a node is known to have failed
        elif run.run_id not in started:
            run.status = "unrecorded"
    return list(runs.values())


def render_runs(runs: list[RunSummary], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps([attrs.asdict(r) for r in runs], indent=2)
    rows = [("RUN_ID", "WORKFLOW", "STATUS", "STARTED", "ENDED", "RECORDS")]
    rows += [(r.run_id, r.workflow, r.status, r.started_at, r.ended_at or "-", str(r.count)) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


# -- one run --------------------------------------------------------------------------------


@attrs.define
class NodeRun:
    node_id: str | None
    task: str | None
    status: str
    attempt: int
    started_at: str
    ended_at: str | None
    duration_s: float | None
    executor: str
    image: str | None
    code_digest: str | None
    cache_key: str | None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    parameters: dict[str, Any]
    error: str | None
    seq: int
    record_hash: str


@attrs.define
class RunDetail:
    run_id: str
    workflow: str
    ir_digest: str
    target: str
    status: str
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    user: str
    host: str
    nodes: list[NodeRun]


def show_run(records: Iterable[Entry], run_id: str) -> RunDetail | None:
    """Nodes of one run in log order, with statuses, digests and timings; None if unknown."""
    detail: RunDetail | None = None
    mine: list[Entry] = []
    for rec, h in records:
        if rec.run_id != run_id:
            continue
        mine.append((rec, h))
        if detail is None:
            detail = RunDetail(
                run_id, rec.workflow, rec.ir_digest, rec.target, "running", None, None, None, rec.user, rec.host, []
            )
        if rec.kind == "run_start":
            detail.started_at = rec.started_at
        elif rec.kind == "run_end":
            detail.status = rec.status
            detail.started_at = detail.started_at or rec.started_at
            detail.ended_at = rec.ended_at
        else:
            detail.nodes.append(
                NodeRun(
                    node_id=rec.node_id,
                    task=rec.task,
                    status=rec.status,
                    attempt=rec.attempt,
                    started_at=rec.started_at,
                    ended_at=rec.ended_at,
                    duration_s=_duration(rec.started_at, rec.ended_at),
                    executor=rec.executor,
                    image=rec.image,
                    code_digest=rec.code_digest,
                    cache_key=rec.cache_key,
                    inputs=[attrs.asdict(v) for v in rec.inputs],
                    outputs=[attrs.asdict(v) for v in rec.outputs],
                    parameters=dict(rec.parameters),
                    error=rec.error,
                    seq=rec.seq,
                    record_hash=h,
                )
            )
    if detail is not None:
        detail.status = list_runs(mine)[0].status  # one rule for a run's status, with or without run_end
        detail.duration_s = _duration(detail.started_at, detail.ended_at)
    return detail


def render_run(detail: RunDetail, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(attrs.asdict(detail), indent=2)
    lines = [
        f"run {detail.run_id}  workflow {detail.workflow}  [{detail.status}]",
        f"  target {detail.target}  user {detail.user}@{detail.host}  ir {detail.ir_digest}",
        f"  started {detail.started_at or '-'}  ended {detail.ended_at or '-'}"
        + (f"  ({detail.duration_s:.3f}s)" if detail.duration_s is not None else ""),
    ]
    for n in detail.nodes:
        took = f" {n.duration_s:.3f}s" if n.duration_s is not None else ""
        lines.append(f"  - {n.node_id} [{n.status}] attempt {n.attempt}{took}  task {n.task}")
        lines.append(f"      code {n.code_digest or '-'}  seq {n.seq}  record {n.record_hash}")
        for label, refs in (("in ", n.inputs), ("out", n.outputs)):
            for ref in refs:
                where = f" {ref['uri']}" if ref.get("uri") else ""
                lines.append(f"      {label} {ref['name']} {ref['digest']}{where}")
        if n.error:
            lines.append(f"      error: {n.error}")
    return "\n".join(lines)


# -- trace ----------------------------------------------------------------------------------


@attrs.define
class TraceNode:
    id: str
    type: str  # "value" | "task"
    label: str
    data: dict[str, Any]


@attrs.define
class TraceEdge:
    source: str
    target: str
    label: str  # "used" (value -> task) | "generated" (task -> value)
    input: str = ""  # used: the consumer's parameter
    part: str = ""  # used: what it took of the value ("[2]" an item, ".lr" a field; "" all of it)
    digest: str = ""  # used: the digest of what the consumer received
    into: str = ""  # used: where in it the value went ("[3]": the 4th item of a list a map collected)


@attrs.define
class Trace:
    artifact: str
    roots: list[str] = attrs.Factory(list)
    nodes: dict[str, TraceNode] = attrs.Factory(dict)
    edges: list[TraceEdge] = attrs.Factory(list)

    @property
    def found(self) -> bool:
        return bool(self.roots)


@attrs.define
class _Index:
    by_digest: dict[str, list[tuple[LineageRecord, str]]] = attrs.Factory(dict)
    by_sha: dict[str, list[tuple[LineageRecord, str]]] = attrs.Factory(dict)
    by_uri: dict[str, list[tuple[LineageRecord, str]]] = attrs.Factory(dict)
    refs_digest: dict[str, ValueRef] = attrs.Factory(dict)
    refs_sha: dict[str, ValueRef] = attrs.Factory(dict)
    refs_uri: dict[str, ValueRef] = attrs.Factory(dict)
    by_node: dict[tuple[str, str], list[tuple[LineageRecord, str]]] = attrs.Factory(dict)  # (run, node key)
    run_nodes: dict[str, list[str]] = attrs.Factory(dict)  # run -> node keys, in log order


def _index(records: Iterable[Entry]) -> _Index:
    idx = _Index()
    for rec, h in records:
        if rec.kind != "task":
            continue
        for ref in rec.inputs + rec.outputs:
            idx.refs_digest.setdefault(ref.digest, ref)
            if ref.sha256:
                idx.refs_sha.setdefault(ref.sha256, ref)
            if ref.uri:
                idx.refs_uri.setdefault(ref.uri, ref)
        if rec.status not in ("succeeded", "cached"):
            continue
        if rec.node_id is not None:
            key = (rec.run_id, rec.node_id)
            if key not in idx.by_node:
                idx.run_nodes.setdefault(rec.run_id, []).append(rec.node_id)
            idx.by_node.setdefault(key, []).append((rec, h))
        for ref in rec.outputs:
            idx.by_digest.setdefault(ref.digest, []).append((rec, h))
            if ref.sha256:
                idx.by_sha.setdefault(ref.sha256, []).append((rec, h))
            if ref.uri:
                idx.by_uri.setdefault(ref.uri, []).append((rec, h))
    return idx


def _resolve(artifact: str, idx: _Index) -> list[ValueRef]:
    """Values the artifact names: a digest, a content sha256, a URI, or a local path (hashed)."""
    found: dict[str, ValueRef] = {}

    def add(ref: ValueRef | None) -> None:
        if ref is not None:
            found.setdefault(ref.digest, ref)

    text = artifact.strip()
    if text.startswith("sha256:") or _HEX64.match(text):
        hex_part = text.removeprefix("sha256:")
        add(idx.refs_digest.get("sha256:" + hex_part))
        add(idx.refs_sha.get(hex_part))
    elif "://" in text:
        add(idx.refs_uri.get(text))
    else:
        path = Path(text)
        if path.exists():
            add(idx.refs_sha.get(sha256_path(path)))
            add(idx.refs_uri.get(file_uri(path)))
        add(idx.refs_uri.get(text))
        add(idx.refs_uri.get(str(path.absolute())))
        if not found and path.is_file():
            # A copy of one file of a directory artifact (e.g. a model file in a registry):
            # the directory artifacts that contain a file with the same content.
            for ref in _containing_dirs(sha256_path(path), idx):
                add(ref)
    return list(found.values())


def _containing_dirs(file_sha: str, idx: _Index) -> list[ValueRef]:
    out = []
    for uri, ref in idx.refs_uri.items():
        local = Path(uri.removeprefix("file://"))
        if "://" in uri.removeprefix("file://") or not local.is_dir():
            continue
        if any(sha == file_sha for _, sha in dir_manifest(local)):
            out.append(ref)
    return out


def _latest(candidates: list[tuple[LineageRecord, str]]) -> tuple[LineageRecord, str] | None:
    """The latest record that actually computed a value; a cache hit only if nothing computed it."""
    if not candidates:
        return None
    computed = [c for c in candidates if c[0].status == "succeeded"]
    return max(computed or candidates, key=lambda c: c[0].seq)


def _producer(ref: ValueRef, idx: _Index, before: int | None, run_id: str | None) -> tuple[LineageRecord, str] | None:
    """The record that produced ``ref`` by digest, for a consumer in ``run_id`` (None: the artifact asked about).

    A file is the same artifact wherever its content appears, so any earlier run may have made it.
    Equal plain values (a learning rate of 0.1, an accuracy of 0.1) are not: they are linked only
    within the consumer's own run."""
    candidates = list(idx.by_digest.get(ref.digest, []))
    if ref.sha256:
        candidates += idx.by_sha.get(ref.sha256, [])
    return _latest(
        [
            c
            for c in candidates
            if (before is None or c[0].seq < before) and (ref.sha256 or run_id is None or c[0].run_id == run_id)
        ]
    )


def _task_data(rec: LineageRecord, h: str) -> dict[str, Any]:
    return {
        "run_id": rec.run_id,
        "workflow": rec.workflow,
        "node_id": rec.node_id,
        "task": rec.task,
        "status": rec.status,
        "code_digest": rec.code_digest,
        "image": rec.image,
        "executor": rec.executor,
        "target": rec.target,
        "parameters": dict(rec.parameters),
        "started_at": rec.started_at,
        "ended_at": rec.ended_at,
        "seq": rec.seq,
        "record_hash": h,
        "record_id": rec.record_id,
    }


def trace(records: Iterable[Entry], artifact: str, *, ir_for: IRLoader | None = None) -> Trace:
    """Upstream graph of the records that produced ``artifact``, recursively through inputs.

    Each input is followed to the task that produced it along the workflow's data flow when the
    run's IR is known (``ir_for(run_id, ir_digest)``): through fields of NamedTuples and records,
    items of a map, the lists a map collects and sub-workflow boundaries. Otherwise it is matched
    by digest: a file to the latest task that computed its content, a plain value only within its
    run. Every value is a node of its own (a task's output, a run input, a literal), generated by
    at most one task, which is always earlier than the tasks that use it.
    """
    idx = _index(records)
    result = Trace(artifact=artifact)
    expanded: set[str] = set()
    pending: list[tuple[LineageRecord, str]] = []
    resolvers: dict[tuple[str, str], Resolver | None] = {}

    def resolver(rec: LineageRecord) -> Resolver | None:
        key = (rec.run_id, rec.ir_digest)
        if key not in resolvers:
            doc = ir_for(*key) if ir_for is not None else None
            resolvers[key] = Resolver(doc) if doc is not None else None
        return resolvers[key]

    def task_node(rec: LineageRecord, h: str) -> str:
        tid = "t:" + rec.record_id
        if tid not in result.nodes:
            result.nodes[tid] = TraceNode(tid, "task", f"{rec.workflow}.{rec.node_id}", _task_data(rec, h))
        return tid

    def produced(rec: LineageRecord, h: str, out: ValueRef) -> str:
        """The value node of one output of a record (its producer is expanded in turn)."""
        vid = f"v:{rec.record_id}:{out.name}"
        if vid not in result.nodes:
            label = out.name if not out.uri else f"{out.name} ({out.uri})"
            result.nodes[vid] = TraceNode(vid, "value", label, attrs.asdict(out))
            result.edges.append(TraceEdge(task_node(rec, h), vid, "generated"))
        if "t:" + rec.record_id not in expanded:
            expanded.add("t:" + rec.record_id)
            pending.append((rec, h))
        return vid

    def source(kind: str, key: str, ref: ValueRef, origin: str) -> str:
        vid = f"v:{kind}:{key}"
        if vid not in result.nodes:
            label = ref.name if not ref.uri else f"{ref.name} ({ref.uri})"
            data = attrs.asdict(ref)
            data["source"] = True
            if origin:
                data["origin"] = origin
            result.nodes[vid] = TraceNode(vid, "value", label, data)
        return vid

    def by_digest(ref: ValueRef, before: int | None, run_id: str | None) -> str:
        found = _producer(ref, idx, before, run_id)
        if found is None:
            return source("src", f"{run_id or ''}:{ref.name}:{ref.digest}", ref, "")
        rec, h = found
        out = next(o for o in rec.outputs if o.digest == ref.digest or (ref.sha256 and o.sha256 == ref.sha256))
        return produced(rec, h, out)

    def producers_of(src: Source, consumer: LineageRecord) -> list[tuple[LineageRecord, str, str]]:
        """(record, hash, where its value went) of the latest record of each node ``src`` names in
        the consumer's run, earlier than it; a map's items in item order."""
        run = consumer.run_id
        keys: list[tuple[str, str]] = [(src.key, "")]
        if "[*]" in src.key:
            pattern = key_pattern(src.key)
            matched = [(k, pattern.match(k)) for k in idx.run_nodes.get(run, [])]
            items = sorted((tuple(int(g) for g in m.groups()), k) for k, m in matched if m)
            keys = [(k, "".join(f"[{i}]" for i in pos)) for pos, k in items]
        out = []
        for k, into in keys:
            found = _latest([c for c in idx.by_node.get((run, k), []) if c[0].seq < consumer.seq])
            if found is not None:
                out.append((*found, into))
        return out

    def use(vid: str, tid: str, inp: ValueRef, part: str, into: str = "") -> None:
        result.edges.append(TraceEdge(vid, tid, "used", inp.name, part, inp.digest, into))

    def expand(rec: LineageRecord, h: str) -> None:
        tid = task_node(rec, h)
        res = resolver(rec)
        bound = res.sources(rec.node_id) if res is not None and rec.node_id else None
        for inp in rec.inputs:
            if bound is None:
                use(by_digest(inp, rec.seq, rec.run_id), tid, inp, "")
                continue
            for src in bound.get(inp.name) or [Source("literal")]:  # unbound: the task's default
                if src.kind == "task":
                    outs = [
                        (p, ph, o, into)
                        for p, ph, into in producers_of(src, rec)
                        for o in p.outputs
                        if src.output is None or o.name == src.output
                    ]
                    for p, ph, o, into in outs:
                        use(produced(p, ph, o), tid, inp, src.part, into)
                    if not outs:  # its producer's record is not in the log: match by digest
                        use(by_digest(inp, rec.seq, rec.run_id), tid, inp, src.part)
                elif src.kind == "input" and inp.sha256 and not src.part and _producer(inp, idx, rec.seq, None):
                    use(by_digest(inp, rec.seq, None), tid, inp, "")  # a file some earlier run made
                elif src.kind == "input":
                    use(source("in", f"{rec.run_id}:{src.output}", inp, "run input"), tid, inp, src.part)
                else:
                    origin = {"failure": "the failure handled"}.get(src.kind, "literal")
                    use(source("lit", f"{rec.record_id}:{inp.name}", inp, origin), tid, inp, src.part)

    for ref in _resolve(artifact, idx):
        result.roots.append(by_digest(ref, None, None))
    while pending:
        expand(*pending.pop(0))
    unique: dict[tuple[str, str, str, str, str, str], TraceEdge] = {}
    for e in result.edges:
        unique.setdefault((e.source, e.target, e.label, e.input, e.part, e.into), e)
    result.edges = list(unique.values())
    return result


def _quote(text: str) -> str:
    return json.dumps(text)


def render_trace(t: Trace, fmt: str = "text") -> str:
    """``text`` (an indented tree), ``json``, ``dot`` (Graphviz) or ``mermaid``."""
    if fmt == "json":
        return json.dumps(
            {
                "artifact": t.artifact,
                "roots": t.roots,
                "nodes": [attrs.asdict(n) for n in t.nodes.values()],
                "edges": [attrs.asdict(e) for e in t.edges],
            },
            indent=2,
        )
    if fmt == "dot":
        out = ["digraph lineage {", "  rankdir=BT;"]
        for n in t.nodes.values():
            shape = "box" if n.type == "task" else "ellipse"
            out.append(f"  {_quote(n.id)} [label={_quote(_node_caption(n))}, shape={shape}];")
        for e in t.edges:
            out.append(f"  {_quote(e.source)} -> {_quote(e.target)} [label={_quote(_edge_caption(e))}];")
        out.append("}")
        return "\n".join(out)
    if fmt == "mermaid":
        ids = {nid: f"n{i}" for i, nid in enumerate(t.nodes)}
        out = ["flowchart BT"]
        for nid, n in t.nodes.items():
            caption = _node_caption(n).replace('"', "#quot;").replace("\n", "<br/>")
            out.append(f'  {ids[nid]}["{caption}"]' if n.type == "task" else f'  {ids[nid]}(["{caption}"])')
        for e in t.edges:
            label = f"{e.label} as {e.input}" if e.input else e.label  # parameter names are identifiers
            out.append(f"  {ids[e.source]} -->|{label}| {ids[e.target]}")
        return "\n".join(out)
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}")
    if not t.found:
        return f"no lineage for {t.artifact}"
    producers: dict[str, str] = {e.target: e.source for e in t.edges if e.label == "generated"}
    inputs: dict[str, list[TraceEdge]] = {}
    for e in t.edges:
        if e.label == "used":
            inputs.setdefault(e.target, []).append(e)
    lines: list[str] = []
    shown: set[str] = set()
    # Depth first with an explicit stack: a long chain must not exhaust Python's recursion limit.
    stack: list[tuple[str, str, str, TraceEdge | None]] = [(root, "", "", None) for root in reversed(t.roots)]
    while stack:
        vid, prefix, branch, edge = stack.pop()
        lines.append(prefix + branch + _value_caption(t.nodes[vid], edge).replace("\n", "  "))
        inner = prefix + {"": "", "└─ ": "   ", "├─ ": "│  "}[branch]
        tid = producers.get(vid)
        if tid is None:
            continue
        lines.append(inner + "└─ produced by " + _node_caption(t.nodes[tid]).replace("\n", "  "))
        if tid in shown:
            lines.append(inner + "   (see above)")
            continue
        shown.add(tid)
        ins = inputs.get(tid, [])
        for k in reversed(range(len(ins))):
            stack.append((ins[k].source, inner + "   ", "└─ " if k == len(ins) - 1 else "├─ ", ins[k]))
    return "\n".join(lines)


def _edge_caption(e: TraceEdge) -> str:
    return f"{e.label} as {e.input}{e.into}" if e.input else e.label


def _value_caption(n: TraceNode, edge: TraceEdge | None) -> str:
    """A value as a consumer received it: under its parameter's name, and the part it took."""
    d = n.data
    if edge is None or (edge.input == d["name"] and not edge.part and not edge.into):
        return _node_caption(n)
    src = f" ({d.get('origin') or 'source'})" if d.get("source") else ""
    where = f"\n{d['uri']}" if d.get("uri") and not edge.part else ""
    if edge.into:  # one item of what the consumer received: show the item's own digest
        return f"{edge.input}{edge.into} = {d['name']}{edge.part} {d['digest']}{src}{where}"
    return f"{edge.input} = {d['name']}{edge.part} {edge.digest}{src}{where}"


def _node_caption(n: TraceNode) -> str:
    d = n.data
    if n.type == "value":
        where = f"\n{d['uri']}" if d.get("uri") else ""
        src = f" ({d.get('origin') or 'source'})" if d.get("source") else ""
        return f"{d['name']} {d['digest']}{src}{where}"
    params = ", ".join(f"{k}={v}" for k, v in sorted(d["parameters"].items()))
    return f"{n.label} [{d['status']}] run {d['run_id']} task {d['task']}\ncode {d['code_digest'] or '-'}" + (
        f"  params {params}" if params else ""
    )
