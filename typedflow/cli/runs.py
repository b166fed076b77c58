"""``typedflow runs list|show|outputs|logs|cancel|retry``: the runs of any target (local by default).

The command reads a target's runs through its :class:`typedflow.backend.RunOps` (``Backend.runs``;
the local interpreter's is :mod:`typedflow.backends.local.runs`) and prints them the same way for
every target. ``typedflow lineage runs`` stays the audit view of the lineage log.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from typedflow.backend import Backend, RunOps
from typedflow.cli.documents import load_ir
from typedflow.cli.runops import (
    STATUSES,
    RunOpError,
    RunOutcome,
    detail_json,
    detail_text,
    failure_text,
    logs_text,
    outputs_text,
    summaries_json,
    summaries_text,
)
from typedflow.errors import RunInterrupted

LOCAL = "local"


def _local() -> Any:
    return importlib.import_module("typedflow.backends.local.runs")


def run_document(store: Path, run_id: str) -> Any:
    """The IR document a local run under ``store`` ran (checked as ``runs`` reads a run's files)."""
    return _local().LocalRuns(store).document(run_id)


def add_subparser(sub: Any, backends: dict[str, Backend], chosen: str | None) -> None:
    """``chosen``: the target named on the command line (its options are added), else the local one's."""
    names = [LOCAL, *(n for n, b in backends.items() if b.runs is not None)]
    p = sub.add_parser(
        "runs",
        help="list, inspect, cancel and retry runs on any target",
        description="The runs of a target (the local interpreter by default): list them, show one's nodes "
        "and failure, print its outputs or its tasks' output, cancel or retry it. `typedflow lineage runs` "
        "is the audit view.",
    )
    cmds = p.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--target", metavar="TARGET", help=f"where the runs are: {', '.join(names)} (default local)")
        if chosen is None or chosen == LOCAL:
            _local().add_runs_options(q)
        else:
            backend = backends.get(chosen)
            if backend is not None and backend.add_runs_options is not None:
                try:
                    backend.add_runs_options(q)
                except Exception as exc:
                    q.set_defaults(target_error=f"target {chosen!r} is not usable: {type(exc).__name__}: {exc}")

    q = cmds.add_parser("list", help="runs, newest first", description="Runs, newest first.")
    q.add_argument("spec", nargs="?", metavar="FILE_OR_MODULE:WORKFLOW", help="only this workflow's runs")
    q.add_argument("--name", metavar="NAME", help="only the runs of this workflow (or deployment) name")
    q.add_argument("--status", choices=STATUSES, help="only runs in this state")
    q.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N runs (default 20)")
    q.add_argument("--json", action="store_true", help="print the runs as a JSON array")
    common(q)
    q.set_defaults(func=cmd_runs, runs_fn=_list)

    for name, fn, helptext in (
        ("show", _show, "a run's state, timings, nodes and failure"),
        ("outputs", _outputs, "a finished run's outputs as `typedflow run` prints them (exit 1 if it failed)"),
        ("logs", _logs, "what a run's tasks wrote to stdout and stderr"),
        ("cancel", _cancel, "stop a running run"),
        ("retry", _retry, "go on from a run's failure: finished tasks are not run again"),
    ):
        q = cmds.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        q.add_argument("run_id", metavar="RUN_ID")
        if name == "logs":
            q.add_argument("--node", metavar="KEY", help="one node instance, e.g. train or map[3]/score")
        if name == "retry":
            q.add_argument("--wait", action="store_true", help="wait for the new run and print its outputs")
        if name == "show":
            q.add_argument("--json", action="store_true", help="print the run as a JSON object")
        common(q)
        q.set_defaults(func=cmd_runs, runs_fn=fn)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def ops_for(args: argparse.Namespace, backends: dict[str, Backend]) -> RunOps:
    target = getattr(args, "target", None) or LOCAL
    if target == LOCAL:
        ops: RunOps = _local().ops(args)
        return ops
    backend = backends.get(target)
    if backend is None:
        raise RunOpError(f"unknown target {target!r}; targets with runs: {', '.join([LOCAL, *backends])}")
    if backend.runs is None:
        raise RunOpError(f"target {target!r} has no runs to show")
    return backend.runs(args)


def cmd_runs(args: argparse.Namespace) -> int:
    from typedflow.backend import available

    if getattr(args, "target_error", None):
        raise RunOpError(args.target_error)
    ops = ops_for(args, available())
    rc: int = args.runs_fn(ops, args)
    return rc


def _list(ops: RunOps, args: argparse.Namespace) -> int:
    workflow = args.name
    if args.spec:
        doc, _ = load_ir(argparse.Namespace(spec=args.spec, ir=None))
        workflow = workflow or doc.workflow.name
    runs = ops.list(workflow, args.status, args.limit)
    if args.json:
        sys.stdout.write(summaries_json(runs))
    elif runs:
        sys.stdout.write(summaries_text(runs))
    else:
        print("no runs", file=sys.stderr)
    return 0


def _show(ops: RunOps, args: argparse.Namespace) -> int:
    detail = ops.show(args.run_id)
    sys.stdout.write(detail_json(detail) if args.json else detail_text(detail))
    return 0


def print_outcome(outcome: RunOutcome) -> int:
    """Outputs on stdout (exit 0), or the failure on stderr (exit 1): what ``typedflow run`` does."""
    if outcome.failure is not None or outcome.summary.status != "succeeded":
        failure = outcome.failure
        text = failure_text(failure, outcome.summary.run_id) if failure else f"run {outcome.summary.run_id} failed\n"
        sys.stderr.write(text)
        return 1
    if outcome.has_value:
        sys.stdout.write(json.dumps(outcome.value, indent=2, sort_keys=True) + "\n")
        return 0
    assert outcome.doc is not None
    sys.stdout.write(outputs_text(outcome.doc, outcome.outputs or {}))
    return 0


def _outputs(ops: RunOps, args: argparse.Namespace) -> int:
    return print_outcome(ops.outcome(args.run_id))


def _logs(ops: RunOps, args: argparse.Namespace) -> int:
    logs = ops.logs(args.run_id, args.node)
    sys.stdout.write(logs_text(logs))
    if not logs.entries:
        which = f"node {args.node} of run {args.run_id}" if args.node else f"run {args.run_id}"
        print(f"no output kept for {which}", file=sys.stderr)
    for link in logs.links:
        print(link, file=sys.stderr)
    return 0


def _cancel(ops: RunOps, args: argparse.Namespace) -> int:
    done = ops.cancel(args.run_id)
    print(f"run {done.run_id}: {done.how}", file=sys.stderr)
    return 0


def stopped(exc: RunInterrupted) -> int:
    """The exit status of a command whose run a signal stopped (its progress has said so): 128 + N. With
    tasks abandoned on threads that cannot be stopped, the process ends here: Python would wait for them
    at exit (the run's journal, store and records are already closed)."""
    code = 128 + (signal.SIGTERM if exc.signal == "SIGTERM" else signal.SIGINT)
    if exc.abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _retry(ops: RunOps, args: argparse.Namespace) -> int:
    try:
        done = ops.retry(args.run_id)
    except RunInterrupted as exc:  # a local run resumed here, stopped by SIGINT or SIGTERM
        return stopped(exc)
    if done.run_id != args.run_id:
        print(f"run {args.run_id}: {done.how}: {done.run_id}", file=sys.stderr)
    else:
        print(f"run {done.run_id}: {done.how}", file=sys.stderr)
    outcome = done.outcome
    if outcome is None and args.wait:
        outcome = wait_outcome(ops, done.run_id)
    if outcome is not None:
        return print_outcome(outcome)
    print(done.run_id)
    return 0


def wait_outcome(ops: RunOps, run_id: str, timeout: float | None = None, poll: float = 0.2) -> RunOutcome:
    """Poll until the run leaves ``running``; its outcome. A target's ``summary(run_id)``, where it has one,
    is polled instead of ``show``, which reads every node's records (thousands for a large map)."""
    t0 = time.monotonic()
    delay = poll
    summary = getattr(ops, "summary", None) or (lambda rid: ops.show(rid).summary)
    while summary(run_id).status == "running":
        if timeout is not None and time.monotonic() - t0 > timeout:
            raise RunOpError(f"run {run_id} is still running after {timeout:g}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)
    return ops.outcome(run_id)
