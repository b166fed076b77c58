"""``typedflow runs --target stepfunctions``: executions of the deployed state machines.

A run is an execution (its id: the execution name, which is also the lineage run id, or its ARN). What
the runtime wrote for it is read from the store the deployment names (``typedflow:bucket`` tag, or the
definition's task requests): the failure of the node that failed the run (``runs/<run>/failures/<node>.json``),
each attempt's output (``runs/<run>/logs/<node>/<attempt>.log``), and the lineage records (``lineage/<run>/``).
"""

from __future__ import annotations

import argparse
import builtins
import json
from collections.abc import Iterator
from typing import Any, Final

import attrs

from typedflow import ir
from typedflow.cli.runops import (
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
    add_note,
    iso,
    nodes_from_records,
    seconds_between,
    shown,
)
from typedflow.runtime.capture import node_key, node_segment
from typedflow.util.boundary import BoundaryError, parse_json

from .deploy import decode_outputs
from .deployment import TAG_IR, TAG_WORKFLOW, deployed, read_tags, task_requests

STATUS: Final = {
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "failed",
    "ABORTED": "cancelled",
    "PENDING_REDRIVE": "running",
}
FILTERS: Final = {
    "running": ["RUNNING", "PENDING_REDRIVE"],  # (a redriven execution is pending before it runs again)
    "succeeded": ["SUCCEEDED"],
    "failed": ["FAILED", "TIMED_OUT"],
    "cancelled": ["ABORTED"],
    "interrupted": [],
}
# what a parent state machine passes the child it starts (see the compiler's ``child``)
STARTED_BY: Final = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
_TASK_END: Final = {"TaskSucceeded": "succeeded", "TaskFailed": "failed", "TaskTimedOut": "failed"}


def find_machine(sfn: Any, name: str) -> str | None:
    for sm in _machines(sfn):
        if sm["name"] == name:
            return str(sm["stateMachineArn"])
    return None


def _machines(sfn: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = sfn.list_state_machines(**({"nextToken": token} if token else {}))
        yield from page.get("stateMachines", [])
        token = page.get("nextToken")
        if not token:
            return


def add_runs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bucket", metavar="S3URI", help="stepfunctions: the store (default: the deployment's)")


def ops(args: argparse.Namespace) -> SfnRuns:
    import boto3

    make: Any = boto3.client
    return SfnRuns(make("stepfunctions"), make("s3"), getattr(args, "bucket", None))


@attrs.define
class _Execution:
    arn: str
    machine: str
    desc: dict[str, Any]


class SfnRuns:
    def __init__(self, sfn: Any, s3: Any, bucket: str | None = None) -> None:
        self.sfn, self.s3, self.bucket = sfn, s3, bucket

    # ------------------------------------------------------------------ finding
    def _typedflow_machines(self, workflow: str | None) -> list[tuple[str, str]]:
        """(arn, workflow) of the state machines deploy made (by tag), of one workflow when given."""
        out = []
        for sm in _machines(self.sfn):
            arn = str(sm["stateMachineArn"])
            if workflow is not None and sm["name"] == machine_name_of(workflow):
                out.append((arn, read_tags(self.sfn, arn).get(TAG_WORKFLOW) or workflow))
                continue
            tags = read_tags(self.sfn, arn)
            if TAG_WORKFLOW in tags and (workflow is None or tags[TAG_WORKFLOW] == workflow):
                out.append((arn, tags[TAG_WORKFLOW]))
        return out

    def _execution(self, run_id: str) -> _Execution:
        candidates = []
        by_arn = run_id.startswith("arn:")
        if by_arn:
            if ":execution:" not in run_id:
                raise RunNotFound(f"{run_id[:120]} is not an execution ARN")
            candidates = [run_id]
        else:
            if not run_id or len(run_id) > 80 or any(c in run_id for c in " :/\\\n\t"):
                raise RunNotFound(f"{run_id[:80]!r} is not an execution name or ARN")
            candidates = [
                arn.replace(":stateMachine:", ":execution:", 1) + ":" + run_id
                for arn, _ in self._typedflow_machines(None)
            ]
        for arn in candidates:
            try:
                desc = self.sfn.describe_execution(executionArn=arn)
            except Exception as exc:
                if "ExecutionDoesNotExist" in type(exc).__name__ or "ExecutionDoesNotExist" in str(exc):
                    continue
                if "InvalidArn" in str(exc):
                    continue
                raise
            ex = _Execution(arn, str(desc["stateMachineArn"]), desc)
            if by_arn:  # (a name is looked up among the deployed state machines only)
                self._check_run(ex, run_id)
            return ex
        raise RunNotFound(f"no execution {run_id[:120]!r} of a state machine typedflow deployed")

    def _check_run(self, ex: _Execution, run_id: str) -> None:
        """An execution named by its ARN is a run only when it is one of a state machine ``deploy`` made (tagged,
        or, where tags cannot be read, whose definition holds typedflow's task requests), and not part of
        another run: a child state machine's or a Distributed Map item's execution runs under the run id of the
        run that started it, so retrying it alone would run its part again inside that run."""
        parent = ex.desc.get("mapRunArn")
        # a deployed (tagged) state machine's execution is a run, also when another state machine started it
        if not parent and TAG_WORKFLOW in read_tags(self.sfn, ex.machine):
            return
        if not parent:  # a child state machine (untagged): its parent passes its own execution id
            try:
                given = json.loads(str(ex.desc.get("input") or "{}"))
            except (ValueError, RecursionError):
                given = None
            if isinstance(given, dict):
                parent = given.get(STARTED_BY)
        if parent:
            raise RunNotFound(
                shown(
                    f"execution {run_id[:120]} is part of another run (started by {str(parent)[:160]}): name that run"
                )
            )
        try:
            definition = self.sfn.describe_state_machine_for_execution(executionArn=ex.arn).get("definition")
            requests = any(isinstance(r.get("ir"), str) for r in task_requests(json.loads(str(definition or "{}"))))
        except Exception:
            requests = False
        if not requests:
            raise RunNotFound(f"no execution {run_id[:120]!r} of a state machine typedflow deployed")

    def _store(self, ex: _Execution) -> Any:
        from .runtime import store_for

        bucket = self.bucket
        if not bucket:
            definition = None
            try:
                definition = self.sfn.describe_state_machine_for_execution(executionArn=ex.arn).get("definition")
            except Exception:
                definition = None
            bucket = deployed(self.sfn, ex.machine, definition)[0] or deployed(self.sfn, ex.machine)[0]
        if not bucket:
            raise RunOpError("the deployment names no store: pass --bucket s3://bucket/prefix")
        return store_for(bucket, self.s3)

    def _doc(self, ex: _Execution, store: Any) -> ir.WorkflowIR:
        from .runtime import RequestError, load_ir

        try:
            definition = self.sfn.describe_state_machine_for_execution(executionArn=ex.arn).get("definition")
        except Exception:
            definition = None
        digest = deployed(self.sfn, ex.machine, definition)[1] if definition else None
        digest = digest or read_tags(self.sfn, ex.machine).get(TAG_IR)
        if not digest:
            raise RunOpError(f"cannot tell which workflow IR execution {ex.arn} ran")
        try:
            return load_ir(store, digest)
        except RequestError as exc:
            raise RunOpError(str(exc)) from None

    # ------------------------------------------------------------------ operations
    def _summary(self, desc: dict[str, Any], workflow: str) -> RunSummary:
        started, ended = iso(desc.get("startDate")), iso(desc.get("stopDate"))
        return RunSummary(
            str(desc["name"]),
            workflow,
            STATUS.get(str(desc.get("status")), str(desc.get("status", "")).lower()),
            started,
            ended,
            seconds_between(started, ended) if started and ended else None,
        )

    def list(self, workflow: str | None, status: str | None, limit: int) -> list[RunSummary]:
        found: list[RunSummary] = []
        for arn, wf in self._typedflow_machines(workflow):
            for flt in FILTERS[status] if status else [None]:
                token = None
                n = 0
                while n < limit:
                    kw: dict[str, Any] = {"stateMachineArn": arn, "maxResults": min(100, limit)}
                    if flt:
                        kw["statusFilter"] = flt
                    if token:
                        kw["nextToken"] = token
                    page = self.sfn.list_executions(**kw)
                    for e in page.get("executions", []):
                        found.append(self._summary(e, wf))
                        n += 1
                    token = page.get("nextToken")
                    if not token:
                        break
        found.sort(key=lambda s: (s.started, s.run_id), reverse=True)
        return found[:limit]

    def _history(self, arn: str) -> builtins.list[dict[str, Any]]:
        events: builtins.list[dict[str, Any]] = []
        token = None
        while True:
            kw: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
            if token:
                kw["nextToken"] = token
            page = self.sfn.get_execution_history(**kw)
            events += page.get("events", [])
            token = page.get("nextToken")
            if not token or len(events) >= 100_000:
                return events

    def _workflow(self, ex: _Execution) -> str:
        return read_tags(self.sfn, ex.machine).get(TAG_WORKFLOW) or ex.machine.rsplit(":", 1)[-1]

    def summary(self, run_id: str) -> RunSummary:
        """The run's state and times alone (what polling for its end needs)."""
        ex = self._execution(run_id)
        return self._summary(ex.desc, self._workflow(ex))

    def show(self, run_id: str) -> RunDetail:
        ex = self._execution(run_id)
        summary = self._summary(ex.desc, self._workflow(ex))
        store = self._store(ex)
        from typedflow.lineage.cloud import iter_location

        records = []
        for obj in iter_location(store.uri, run_id=summary.run_id, client=self.s3):
            try:  # a record that is not JSON (nested too deeply, NaN, too large) is left out
                records.append(parse_json(obj.body, obj.uri))
            except BoundaryError:
                continue
        nodes = {n.key: n for n in nodes_from_records(records)}
        for key, state in history_nodes(self._history(ex.arn)).items():
            known = nodes.get(key)
            if known is None or state.attempts > known.attempts:
                nodes[key] = attrs.evolve(state, error=state.error or (known.error if known else ""))
        if summary.status != "running":  # a task the ended execution stopped (a failed Map item's siblings)
            nodes = {k: attrs.evolve(n, status="cancelled") if n.status == "running" else n for k, n in nodes.items()}
        notes: builtins.list[str] = []
        failure = self._failure(ex, store, summary, notes)
        region = ex.arn.split(":")[3]
        link = f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{ex.arn}"
        return RunDetail(summary, tuple(nodes.values()), failure, (link,), tuple(notes))

    def _failure(
        self, ex: _Execution, store: Any, summary: RunSummary, notes: builtins.list[str] | None = None
    ) -> FailureInfo | None:
        """The failure of the run; with a failure record that cannot be read (not JSON, too large), the one
        the execution's error and cause tell, and a note (``notes``, else stderr) naming what is wrong."""
        if summary.status in ("succeeded", "running"):
            return None
        error, cause = str(ex.desc.get("error") or ""), str(ex.desc.get("cause") or "")
        if summary.status == "cancelled":
            return FailureInfo("", error or "cancelled", cause or "the execution was stopped")
        from .failures import _plain, caught_failure, failed_node

        try:
            return FailureInfo.from_mapping(caught_failure(store, summary.workflow, summary.run_id, error, cause))
        except BoundaryError as exc:
            add_note(notes, f"{exc}: the failure shown is the execution's own error and cause")
            return FailureInfo(failed_node(cause) or "", error, _plain(cause))

    def outcome(self, run_id: str) -> RunOutcome:

        ex = self._execution(run_id)
        summary = self._summary(ex.desc, self._workflow(ex))
        if summary.status == "running":
            raise RunOpError(f"run {summary.run_id} has no outputs yet: it is running")
        store = self._store(ex)
        doc = self._doc(ex, store)
        if summary.status != "succeeded":
            return RunOutcome(summary, doc, None, self._failure(ex, store, summary))
        return RunOutcome(summary, doc, decode_outputs(doc, ex.desc.get("output"), store))

    def logs(self, run_id: str, node: str | None) -> Logs:
        ex = self._execution(run_id)
        store = self._store(ex)
        name = str(ex.desc["name"])
        prefix = store.key("runs", name, "logs") + "/"
        if node is not None:
            prefix += node_segment(node) + "/"
        entries = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                rest = str(obj["Key"])[len(store.key("runs", name, "logs")) + 1 :]
                seg, _, file = rest.partition("/")
                if not file.endswith(".log") or not file[:-4].isdigit():
                    continue
                body = store.get_bytes(str(obj["Key"])) or b""
                entries.append(
                    LogEntry(node_key(seg), int(file[:-4]), body.decode("utf-8", "replace"), store.url(obj["Key"]))
                )
        entries.sort(key=lambda e: (e.node, e.attempt))
        region = ex.arn.split(":")[3]
        links = (
            f"containers (ecs, batch, lambda) also log to CloudWatch: https://{region}.console.aws.amazon.com/"
            f"cloudwatch/home?region={region}#logsV2:log-groups",
        )
        return Logs(tuple(entries), links)

    def cancel(self, run_id: str) -> Started:
        ex = self._execution(run_id)
        if ex.desc.get("status") != "RUNNING":
            raise RunOpError(f"run {ex.desc['name']} is not running ({STATUS.get(ex.desc.get('status', ''), '')})")
        self.sfn.stop_execution(
            executionArn=ex.arn, error="typedflow.Cancelled", cause="cancelled with typedflow runs cancel"
        )
        return Started(str(ex.desc["name"]), "stopped (StopExecution)")

    def retry(self, run_id: str) -> Started:
        """RedriveExecution where AWS allows it; otherwise a new execution with the same input, whose
        finished tasks are cache hits."""
        ex = self._execution(run_id)
        status = STATUS.get(str(ex.desc.get("status")), "")
        if status == "running":
            raise RunOpError(f"run {ex.desc['name']} is still running")
        if status == "succeeded":
            raise RunOpError(f"run {ex.desc['name']} succeeded: nothing to retry")
        why = ""
        try:
            self.sfn.redrive_execution(executionArn=ex.arn)
            return Started(str(ex.desc["name"]), "redriven (RedriveExecution): it goes on from its failed states")
        except NotImplementedError:
            why = "RedriveExecution is not available here"
        except Exception as exc:  # not redrivable (too old, a Map run, ...): start anew
            why = f"RedriveExecution refused it ({_code(exc)})"
        import uuid

        base = str(ex.desc["name"])[:60]
        name = f"{base}-retry-{uuid.uuid4().hex[:8]}"
        self.sfn.start_execution(stateMachineArn=ex.machine, input=ex.desc.get("input") or "{}", name=name)
        return Started(name, f"{why}; started a new execution with the same input (finished tasks are cache hits)")


def _code(exc: Exception) -> str:
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        return str(resp.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def machine_name_of(workflow: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]", "-", workflow)[:80]


def history_nodes(events: list[dict[str, Any]]) -> dict[str, NodeState]:
    """Each task node's attempts and state from an execution's history: a TaskScheduled event names the
    node in its request; the events after it (by ``previousEventId``) say how the attempt ended."""
    scheduled: dict[int, str] = {}  # event id -> node key of the attempt it belongs to
    attempts: dict[str, int] = {}
    state: dict[str, NodeState] = {}
    for e in sorted(events, key=lambda e: int(e.get("id", 0))):
        eid, prev, kind = int(e.get("id", 0)), int(e.get("previousEventId", 0)), str(e.get("type", ""))
        if kind == "TaskScheduled":
            params = e.get("taskScheduledEventDetails", {}).get("parameters") or "{}"
            try:
                # a Distributed Map's own steps (items to S3, results back) are not task nodes
                reqs = [r for r in task_requests(json.loads(params)) if "op" not in r]
            except ValueError:
                reqs = []
            key = next((str(r["node"]) for r in reqs if isinstance(r.get("node"), str)), "")
            if not key:
                continue
            scheduled[eid] = key
            attempts[key] = attempts.get(key, 0) + 1
            old = state.get(key)
            state[key] = NodeState(key, "running", attempts[key], old.started if old else iso(e.get("timestamp")))
            continue
        key = scheduled.get(prev, "")
        if not key:
            continue
        scheduled[eid] = key
        if kind in _TASK_END:
            details = next((v for k, v in e.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            error = str(details.get("error") or "")
            cause = str(details.get("cause") or "")
            text = f"{error}: {cause.splitlines()[0] if cause else ''}".rstrip(": ") if error else ""
            state[key] = attrs.evolve(state[key], status=_TASK_END[kind], ended=iso(e.get("timestamp")), error=text)
    return state
