"""What ``typedflow runs`` shows of a run, the same on every target, and how it is printed.

Each target reads its own runs (a local run directory, a Step Functions execution, a Vertex pipeline
job) into these records through its :class:`typedflow.backend.RunOps`; the command prints them.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping
from typing import Any, Final

import attrs

from typedflow import ir
from typedflow.errors import InputError

# One vocabulary for every target.
STATUSES: Final = ("running", "succeeded", "failed", "cancelled", "interrupted")


class RunNotFound(InputError):
    """No such run (a usage error: exit 2)."""


class RunOpError(InputError):
    """The operation does not apply to this run (cancel a finished run, retry a running one)."""


@attrs.frozen
class FailureInfo:
    """The first failure of a run: where, what, and why."""

    node: str
    error_type: str
    message: str
    traceback: str = ""

    @staticmethod
    def from_mapping(d: Mapping[str, Any]) -> FailureInfo:
        return FailureInfo(
            str(d.get("node") or ""),
            str(d.get("error_type") or ""),
            str(d.get("message") or ""),
            str(d.get("traceback") or ""),
        )


@attrs.frozen
class RunSummary:
    run_id: str
    workflow: str
    status: str
    started: str = ""  # ISO 8601, UTC
    ended: str = ""
    duration: float | None = None  # seconds; None while running or when unknown
    # a run that stopped without recording its end (its process was killed): the last moment its files (and,
    # where read, its lineage records) record, "" for any other run
    last_recorded: str = ""


@attrs.frozen
class NodeState:
    key: str  # the node instance key (``train``, ``map[3]/score``, ``sub/train``)
    status: str  # succeeded, cached, failed, skipped, running, cancelled (stopped with its run)
    attempts: int = 0
    started: str = ""
    ended: str = ""
    error: str = ""  # "Type: message" of its last failed attempt


@attrs.frozen
class RunDetail:
    summary: RunSummary
    nodes: tuple[NodeState, ...] = ()
    failure: FailureInfo | None = None
    links: tuple[str, ...] = ()  # consoles, where more is to be seen
    notes: tuple[str, ...] = ()
    abandoned: tuple[str, ...] = ()  # node instances still running when the run was stopped (local)

    @property
    def cache_hits(self) -> int:
        return sum(1 for n in self.nodes if n.status == "cached")


@attrs.frozen
class RunOutcome:
    """A finished run's outputs (typed JSON by name) or its failure; ``doc`` says how to print them."""

    summary: RunSummary
    doc: ir.WorkflowIR | None
    outputs: dict[str, Any] | None = None
    failure: FailureInfo | None = None
    # what `typedflow run` prints, when the target kept it (Vertex) instead of the IR that says it
    value: Any = None
    has_value: bool = False


@attrs.frozen
class LogEntry:
    node: str
    attempt: int
    text: str
    where: str = ""  # the object or file it was read from


@attrs.frozen
class Logs:
    entries: tuple[LogEntry, ...] = ()
    links: tuple[str, ...] = ()  # CloudWatch / Cloud Logging, where the platform keeps everything


@attrs.frozen
class Started:
    """What cancel and retry did: the run it concerns (a new one for a retry that started one) and how;
    ``outcome`` when the run already ended (a local run is resumed in the foreground)."""

    run_id: str
    how: str
    outcome: RunOutcome | None = None


# ----------------------------------------------------------------------------- printing


def printable(doc: ir.WorkflowIR, outs: Mapping[str, Any]) -> Any:
    """What ``typedflow run`` prints for these outputs: one ``out`` output as its value, several as an
    object, none as null."""
    wf = doc.workflow
    if len(wf.outputs) == 1 and wf.outputs[0].name == "out" and wf.returns.flavor != "namedtuple":
        return outs.get("out")
    return dict(outs) if wf.outputs else None


def outputs_text(doc: ir.WorkflowIR, outs: Mapping[str, Any]) -> str:
    return json.dumps(printable(doc, outs), indent=2, sort_keys=True) + "\n"


def shown(text: str, keep: str = "") -> str:
    """``text`` with the characters a terminal would act on (escape sequences, carriage returns, other
    controls; but those in ``keep``) written out as escapes: what runs print comes from files and
    records that may have been edited."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def failure_text(f: FailureInfo, run_id: str = "") -> str:
    """The failure as people read it: where, the exception and its message, then the traceback."""
    head = f"run {run_id} failed" if run_id else "failed"
    where = f" at node {shown(f.node)}" if f.node else ""
    what = f"{f.error_type}: {f.message}" if f.error_type else f.message
    text = shown(f"{head}{where}: {what}".rstrip(": "), keep="\n\t") + "\n"
    tb = f.traceback.strip("\n")
    if tb and tb.strip() != f.message.strip():
        text += "".join("  " + shown(line, keep="\t") + "\n" for line in tb.splitlines())
    return text


def iso(value: Any) -> str:
    """A timestamp (datetime or ISO text) as ISO 8601 UTC text with milliseconds, or ""."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return str(value.astimezone(dt.UTC).isoformat(timespec="milliseconds")).replace("+00:00", "Z")
    return str(value)


def seconds_between(start: str, end: str) -> float | None:
    try:
        a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (b - a).total_seconds())


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def table(rows: list[list[str]], header: list[str]) -> str:
    rows = [[shown(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def summaries_text(runs: list[RunSummary]) -> str:
    rows = [[r.run_id, r.workflow, r.status, r.started or "-", duration_text(r.duration)] for r in runs]
    return table(rows, ["RUN", "WORKFLOW", "STATUS", "STARTED", "DURATION"])


def detail_text(d: RunDetail) -> str:
    s = d.summary
    lines = [
        f"run       {s.run_id}",
        f"workflow  {s.workflow}",
        f"status    {s.status}",
        f"started   {s.started or '-'}",
        f"ended     {s.ended or '-'}"
        + (f" (not recorded; last activity recorded at {s.last_recorded})" if s.last_recorded else ""),
        f"duration  {duration_text(s.duration)}",
    ]
    counts: dict[str, int] = {}
    for n in d.nodes:
        counts[n.status] = counts.get(n.status, 0) + 1
    if d.nodes:
        lines.append("nodes     " + shown(", ".join(f"{v} {k}" for k, v in sorted(counts.items()))))
        lines.append(f"cache     {d.cache_hits} hit{'s' if d.cache_hits != 1 else ''}")
    text = "\n".join(lines) + "\n"
    if d.nodes:
        rows = [
            [
                n.key,
                n.status,
                str(n.attempts or "-"),
                n.started or "-",
                duration_text(seconds_between(n.started, n.ended) if n.started and n.ended else None),
                n.error[:120],
            ]
            for n in d.nodes
        ]
        text += "\n" + table(rows, ["NODE", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "ERROR"])
    if d.failure is not None:
        text += "\n" + failure_text(d.failure, s.run_id)
    for note in d.notes:  # they may name what a run's files hold
        text += f"\nnote: {shown(note)}"
    if d.notes:
        text += "\n"
    for link in d.links:
        text += f"\n{link}"
    if d.links:
        text += "\n"
    return text


def add_note(notes: list[str] | None, note: str) -> None:
    """A note about a run: onto ``notes`` when the caller shows them with the run, else on stderr."""
    if notes is None:
        print(f"typedflow runs: note: {shown(note)}", file=sys.stderr)
    else:
        notes.append(note)


def summaries_json(runs: list[RunSummary]) -> str:
    """``runs list --json``: one object per run, its fields as :class:`RunSummary` names them."""
    return json.dumps([attrs.asdict(r) for r in runs], indent=2) + "\n"


def detail_json(d: RunDetail) -> str:
    """``runs show --json``: the summary's fields, then nodes, failure, links, notes and abandoned."""
    out = attrs.asdict(d.summary)
    out.update(attrs.asdict(d, filter=lambda a, _: a.name != "summary"))
    out["cache_hits"] = d.cache_hits
    return json.dumps(out, indent=2) + "\n"


def logs_text(logs: Logs) -> str:
    out = []
    for e in logs.entries:
        # the node is read from a file or object name, which may hold what a terminal acts on; the text is
        # the task's own output, printed as it wrote it
        out.append(f"==> {shown(e.node)} (attempt {e.attempt}) <==\n")
        out.append(e.text if e.text.endswith("\n") or not e.text else e.text + "\n")
    return "".join(out)


__all__ = [
    "STATUSES",
    "FailureInfo",
    "LogEntry",
    "Logs",
    "NodeState",
    "RunDetail",
    "RunNotFound",
    "RunOpError",
    "RunOutcome",
    "RunSummary",
    "Started",
    "add_note",
    "detail_json",
    "detail_text",
    "failure_text",
    "iso",
    "logs_text",
    "outputs_text",
    "printable",
    "summaries_json",
    "summaries_text",
]


def _attempt(r: Mapping[str, Any]) -> int:
    """A record's attempt number; 0 for what no record holds (a damaged or forged line: text, a float
    like 1e400 that JSON reads as infinity, a negative or absurd count)."""
    a = r.get("attempt")
    return a if isinstance(a, int) and not isinstance(a, bool) and 0 <= a < 1_000_000 else 0


def nodes_from_records(records: Any) -> tuple[NodeState, ...]:
    """Each node's state from the task lineage records of one run (plain JSON objects, any order), as its
    last execution left it: a run resumed or redriven runs a failed node again from attempt 1, and records
    the nodes it kept as cached without an end (what an earlier execution gave). Its last attempt's
    status, how many attempts, when the first began and the last ended, the last error."""
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if isinstance(r, Mapping) and r.get("kind", "task") == "task" and r.get("node_id"):
            by_node.setdefault(str(r["node_id"]), []).append(r)
    out = []
    for key, recs in by_node.items():
        recs.sort(key=lambda r: (str(r.get("started_at") or ""), _attempt(r)))
        # a value kept from an earlier execution is that execution's
        recs = [recs[0], *(r for r in recs[1:] if r.get("status") != "cached" or r.get("ended_at"))]
        first = 0  # the last execution: the attempts counting up to the last record
        for i in range(1, len(recs)):
            if _attempt(recs[i]) <= _attempt(recs[i - 1]):
                first = i
        recs = recs[first:]
        last = recs[-1]
        errors = [str(r.get("error") or "") for r in recs if r.get("status") == "failed" and r.get("error")]
        out.append(
            NodeState(
                key,
                str(last.get("status") or ""),
                max(_attempt(r) for r in recs) or len(recs),
                iso(str(recs[0].get("started_at") or "")),
                iso(str(last.get("ended_at") or "")),
                errors[-1] if errors and last.get("status") == "failed" else "",
            )
        )
    return tuple(sorted(out, key=lambda n: (n.started or "~", n.key)))
