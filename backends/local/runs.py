"""``typedflow runs`` on the local interpreter: the run directories under ``<store>/runs/``."""

from __future__ import annotations

import argparse
import builtins
import collections
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.cli.documents import stdout_to_stderr
from typedflow.cli.runops import (
    STATUSES,
    FailureInfo,
    LogEntry,
    Logs,
    NodeState,
    RunDetail,
    RunNotFound,
    RunOpError,
    RunOutcome,
    RunSummary,
    Started,
    iso,
    nodes_from_records,
    seconds_between,
)
from typedflow.runtime.running import RUN_ID
from typedflow.util.boundary import (
    MAX_JSON_BYTES,
    SAFE_NAME,
    BoundaryError,
    open_nofollow,
    parse_json,
    read_regular,
)
from typedflow.util.statedir import home, path_arg

from .journal import RUN_END_KEY
from .runfiles import CANCELLED, LOGS, read_failures, read_logs, read_stopped

log = logging.getLogger(__name__)
MAX_DURATION = 10 * 365 * 86_400.0  # seconds; a longer one is a damaged status.json
_KEPT = ("succeeded", "cached")  # a node a stopped run finished: kept, not abandoned
MAX_LINE = MAX_JSON_BYTES  # bytes of a journal or lineage line (a node's outputs are at most a JSON document)


def add_runs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store", type=path_arg, metavar="DIR", help="local: state directory (default $TYPEDFLOW_HOME or ./.typedflow)"
    )


def ops(args: argparse.Namespace) -> LocalRuns:
    store = getattr(args, "store", None)
    return LocalRuns(Path(store) if store else home())


def _json(path: Path) -> dict[str, Any]:
    """A run file's object; {} when it is missing, and (with a warning naming it) when it is damaged: one
    bad file must not hide the run, nor the other runs of the store."""
    try:
        data = parse_json(read_regular(path, str(path)), str(path))
    except FileNotFoundError:
        return {}
    except BoundaryError as exc:
        log.warning("ignoring %s", exc)
        return {}
    return data if isinstance(data, dict) else {}


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("ignoring %s: %s", path, exc.strerror or exc)
        return
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        log.warning("ignoring %s: not a regular file", path)
        return
    with os.fdopen(fd, "rb") as fh:
        while raw := fh.readline(MAX_LINE + 1):
            if len(raw) > MAX_LINE and not raw.endswith(b"\n") and b"\0" not in raw:
                # no run writes such a line: not held in memory, whatever its length
                log.warning("ignoring a line of %s longer than %s bytes", path, f"{MAX_LINE:,}")
                while raw and not raw.endswith(b"\n"):
                    raw = fh.readline(1 << 20)
                continue
            end = raw.find(b"\0")  # the journal is allocated ahead: its lines end at the first NUL
            try:
                entry = json.loads(raw if end < 0 else raw[:end])
            except (ValueError, RecursionError):
                entry = None
            if isinstance(entry, dict):
                yield entry
            if end >= 0:
                return


def holder(run_dir: Path) -> int | None:
    """The pid of the live process running the run, or None (the lock is the OS's: a killed run holds none)."""
    try:  # O_NONBLOCK: a FIFO planted as the lock must not make every command wait for a writer
        fd = os.open(run_dir / "lock", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # no process locks anything but a file there
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class LocalRuns:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs = root / "runs"

    def _dir(self, run_id: str) -> Path:
        if RUN_ID.fullmatch(run_id) is None:
            raise RunNotFound(f"no run {run_id[:80]!r}: not a run id")
        d = self.runs / run_id
        try:
            found = _is_run(d)
        except OSError as exc:  # a --store the OS cannot even look at (a name too long)
            raise self._unusable(exc) from None
        if not found:
            raise RunNotFound(f"no run {run_id!r} under {self.runs}")
        return d

    def _unusable(self, exc: OSError) -> RunOpError:
        return RunOpError(f"cannot read the runs under {str(self.root)[:200]}: {exc.strerror or exc}")

    def _summary(self, d: Path) -> RunSummary:
        meta = _json(d / "meta.json")
        status = _json(d / "status.json")
        started = _when(meta.get("started"))
        if not started:  # a run from before runs kept their start: when its IR was written
            with contextlib.suppress(OSError):
                started = iso(_mtime(d / "ir.json"))
        if status.get("status") not in STATUSES:  # damaged: as if there were none
            status = {}
        # A resumed run drops the status.json of the run it resumes: one that is there is this run's.
        running = not status and holder(d) is not None
        if not status and not running:
            # status.json is not fsynced: the journal's copy, if it is the last line (a run resumed
            # since it ended has lines after it)
            last = collections.deque(_lines(d / "journal.jsonl"), maxlen=1)
            if last and last[0].get("key") == RUN_END_KEY and last[0].get("status") in STATUSES:
                status = last[0]
        state = "running" if running else str(status.get("status") or "")
        duration = status.get("duration")
        ended = _when(status.get("ended"))
        last_recorded = ""
        if not status and not running:  # stopped before its end: by a signal (it says when), or killed
            ended = _when(read_stopped(d).get("ended"))
            if not ended:
                last_recorded = _last_recorded(d)
        if ended and started:  # from its first start to its last end, however often it was resumed
            duration = seconds_between(started, ended)
        elif isinstance(duration, int | float) and started:  # a run from before runs kept their end
            ended = _plus(started, float(duration))
        if not (isinstance(duration, int | float) and 0 <= duration < MAX_DURATION):
            duration, ended = None, ""
        if not state:
            state = "cancelled" if (d / CANCELLED).exists() else "interrupted"
        return RunSummary(
            d.name,
            workflow if isinstance(workflow := meta.get("workflow"), str) and SAFE_NAME.fullmatch(workflow) else "",
            state,
            started,
            ended,
            float(duration) if isinstance(duration, int | float) else None,
            last_recorded,
        )

    def list(self, workflow: str | None, status: str | None, limit: int) -> list[RunSummary]:
        try:
            if not self.runs.is_dir():
                return []
            folders = builtins.list(self.runs.iterdir())
        except OSError as exc:
            raise self._unusable(exc) from None
        found = []
        for d in folders:
            if RUN_ID.fullmatch(d.name) is None or not _is_run(d):
                continue
            if workflow is not None and _json(d / "meta.json").get("workflow") != workflow:
                continue
            s = self._summary(d)
            if status is None or s.status == status:
                found.append(s)
        found.sort(key=lambda s: (s.started, s.run_id), reverse=True)
        return found[:limit]

    def _records(self, run_id: str) -> builtins.list[dict[str, Any]]:
        return [
            e
            for e in _lines(self.root / "lineage" / "log.jsonl")
            if e.get("kind") == "task" and e.get("run_id") == run_id
        ]

    def show(self, run_id: str) -> RunDetail:
        d = self._dir(run_id)
        summary = self._summary(d)
        nodes = {n.key: n for n in nodes_from_records(self._records(run_id))}
        for entry in _lines(d / "journal.jsonl"):  # what finished, also without lineage records
            key = str(entry.get("key") or "")
            if key and key != RUN_END_KEY and key not in nodes:
                nodes[key] = NodeState(key, str(entry.get("status") or ""))
        failures = read_failures(d)
        failure = FailureInfo.from_mapping(failures[0]) if failures else None
        notes = []
        abandoned: builtins.list[str] = []
        if summary.status in ("interrupted", "cancelled"):
            stopped = read_stopped(d) if summary.ended else {}
            if stopped:
                # the nodes running when it stopped: they left no journal line and no record of an end
                abandoned = [k for k in stopped["abandoned"] if k not in nodes or nodes[k].status not in _KEPT]
                for key in abandoned:
                    nodes[key] = attrs.evolve(nodes.get(key, NodeState(key, "")), status="cancelled", error="")
                what = (
                    f"abandoned (they run again when resumed): {', '.join(abandoned)}"
                    if abandoned
                    else "none abandoned"
                )
                notes.append(f"stopped by {stopped['signal']} at {summary.ended}; {what}")
            notes.append(f"resume it with: typedflow runs retry {run_id}")
        if summary.last_recorded:  # killed: its lineage records say more than the files' times
            # only what reads as a time: the records are read unverified
            times = [
                summary.last_recorded,
                *(w for n in nodes.values() for t in (n.started, n.ended) if (w := _when(t))),
            ]
            summary = attrs.evolve(summary, last_recorded=max(times))
        return RunDetail(summary, tuple(nodes.values()), failure, (), tuple(notes), tuple(abandoned))

    def outcome(self, run_id: str) -> RunOutcome:
        d = self._dir(run_id)
        summary = self._summary(d)
        if summary.status not in ("succeeded", "failed"):
            raise RunOpError(f"run {run_id} has no outputs: it is {summary.status}")
        doc = _ir(d)
        if summary.status == "failed":
            failures = read_failures(d)
            failure = FailureInfo.from_mapping(failures[0]) if failures else FailureInfo("", "", "the run failed")
            return RunOutcome(summary, doc, None, failure)
        # status.json, else the journal's end line: the first that holds the workflow's outputs, of their types
        found = [_json(d / "status.json").get("outputs")]
        found += [e.get("outputs") for e in _lines(d / "journal.jsonl") if e.get("key") == RUN_END_KEY]
        for outputs in found:
            if _fits(outputs, doc.workflow):
                return RunOutcome(summary, doc, outputs)
        raise RunOpError(f"run {run_id}: neither status.json nor journal.jsonl holds the workflow's outputs")

    def document(self, run_id: str) -> ir.WorkflowIR:
        """The IR the run ran (``graph --run`` draws it without the code)."""
        return _ir(self._dir(run_id))

    def logs(self, run_id: str, node: str | None) -> Logs:
        d = self._dir(run_id)
        entries = tuple(LogEntry(k, a, t, str(d / "logs")) for k, a, t in read_logs(d, node))
        return Logs(entries)

    def cancel(self, run_id: str) -> Started:
        d = self._dir(run_id)
        pid = holder(d)
        if pid is None:
            raise RunOpError(f"run {run_id} is not running ({self._summary(d).status})")
        if pid <= 0:
            raise RunOpError(f"run {run_id} is running, but its process is not known")
        with contextlib.suppress(FileExistsError):  # never through a link planted there
            os.close(open_nofollow(d / CANCELLED, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            os.kill(pid, signal.SIGTERM)  # the run stops as after Ctrl-C: cleanly, resumable
        except ProcessLookupError:
            pass
        return Started(run_id, f"sent SIGTERM to process {pid}; resume with: typedflow runs retry {run_id}")

    def retry(self, run_id: str) -> Started:
        d = self._dir(run_id)
        status = self._summary(d).status
        if status == "running":
            raise RunOpError(f"run {run_id} is still running")
        if status == "succeeded":
            raise RunOpError(f"run {run_id} succeeded: nothing to retry")
        return self._resume(d)  # which drops the cancel marker

    def _resume(self, d: Path) -> Started:
        """Resume the run here, in the foreground, with progress on stderr (as ``typedflow run --resume``)."""
        import sys

        from typedflow.cli.progress import make_progress
        from typedflow.errors import RunInterrupted
        from typedflow.runtime.running import RunOptions, run_ir

        doc = _ir(d)
        progress = make_progress("auto", sys.stderr)
        options = RunOptions(store=self.root, resume=d.name, listener=progress.listener, signals=True)
        try:
            with stdout_to_stderr(progress.printed):
                result = run_ir(doc, {}, options, encoded=True)
        except RunInterrupted as exc:  # the command exits as `typedflow run` does (128 + N)
            progress.interrupted(exc, f"typedflow runs retry {d.name}")
            raise
        progress.finish(result, doc)
        return Started(d.name, "resumed", self.outcome(d.name))


def _last_recorded(d: Path) -> str:
    """When a run's journal or its tasks' kept output were last written (each attempt's log is renamed into its
    node's folder), as ISO 8601 UTC; "" when none can be read. The journal's own time can lag: it is written
    through a mapping, whose writes the OS does not always date."""
    latest = 0
    for path in (d / "journal.jsonl", d / LOGS):
        with contextlib.suppress(OSError):
            latest = max(latest, path.lstat().st_mtime_ns)
    with contextlib.suppress(OSError), os.scandir(d / LOGS) as folders:
        for f in folders:
            with contextlib.suppress(OSError):
                latest = max(latest, f.stat(follow_symlinks=False).st_mtime_ns)
    return iso(dt.datetime.fromtimestamp(latest / 1e9, dt.UTC)) if latest else ""


def _is_run(d: Path) -> bool:
    """Whether ``d`` is a run's folder: it has an ``ir.json``, whatever is there (a damaged one is said by
    what reads it, and the run is still listed and shown)."""
    return d.is_dir() and os.path.lexists(d / "ir.json")


def _fits(outputs: Any, wf: ir.Workflow) -> bool:
    """Whether ``outputs`` are exactly the workflow's declared outputs, each of its type."""
    from typedflow.ir.types import check_json

    if not isinstance(outputs, dict) or outputs.keys() != {p.name for p in wf.outputs}:
        return False
    return all(check_json(outputs[p.name], p.type) is None for p in wf.outputs)


def _ir(d: Path) -> ir.WorkflowIR:
    """The run's IR document, checked (a link, a FIFO or a damaged document is bad input)."""
    from typedflow.ir.codec import IR_MAX_BYTES, loads

    try:
        return loads(read_regular(d / "ir.json", "the run's ir.json", IR_MAX_BYTES))
    except BoundaryError as exc:
        raise RunOpError(str(exc)) from None


def _mtime(path: Path) -> Any:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _plus(started: str, seconds: float) -> str:
    try:
        t = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
        return iso(t + dt.timedelta(seconds=seconds))
    except (ValueError, OverflowError):
        return ""


def _when(value: Any) -> str:
    """``value`` as ISO 8601 UTC text if it is a timestamp, else ""."""
    if not isinstance(value, str):
        return ""
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return iso(value)
    except (ValueError, OverflowError):
        return ""
