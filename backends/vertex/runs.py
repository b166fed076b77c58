"""``start`` and ``typedflow runs --target vertex``: PipelineJobs through google-cloud-aiplatform.

``deploy`` labels its job ``typedflow-workflow=<name>`` (and ``typedflow-ir=<digest prefix>``). ``start``
finds the newest job so labelled and submits a new one from its template (the deployed PipelineSpec),
pipeline root, service account, network and labels, with the new inputs: nothing deploy configured is
asked again. A run is a PipelineJob (its id, or its full resource name); what its containers wrote is
read from the pipeline root (see :mod:`.runfiles`).
"""

from __future__ import annotations

import argparse
import builtins
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from typedflow import ir
from typedflow.cli.runops import (
    FailureInfo,
    LogEntry,
    Logs,
    RunDetail,
    RunNotFound,
    RunOpError,
    RunOutcome,
    RunSummary,
    Started,
    add_note,
    failure_text,
    iso,
    nodes_from_records,
    seconds_between,
    shown,
)
from typedflow.errors import InputError
from typedflow.runtime.capture import node_key
from typedflow.util.boundary import BoundaryError, parse_json

from .deploy import check_parameters
from .labels import LABEL_IR, LABEL_WORKFLOW, deployment_labels, label_value
from .runfiles import Reader, run_dir

STATES: Final = {
    "PIPELINE_STATE_SUCCEEDED": "succeeded",
    "PIPELINE_STATE_FAILED": "failed",
    "PIPELINE_STATE_CANCELLED": "cancelled",
    "PIPELINE_STATE_CANCELLING": "cancelled",
}
FILTERS: Final = {
    "running": ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_PENDING", "PIPELINE_STATE_QUEUED", "PIPELINE_STATE_PAUSED"],
    "succeeded": ["PIPELINE_STATE_SUCCEEDED"],
    "failed": ["PIPELINE_STATE_FAILED"],
    "cancelled": ["PIPELINE_STATE_CANCELLED", "PIPELINE_STATE_CANCELLING"],
    "interrupted": [],
}
_JOB_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


def status_of(state: Any) -> str:
    name = getattr(state, "name", None) or str(state)
    name = name.rsplit(".", 1)[-1]
    return STATES.get(name, "running")


def add_runs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", metavar="PROJECT", help="vertex: Google Cloud project id")
    p.add_argument("--region", metavar="REGION", help="vertex: Vertex AI region, e.g. europe-west4")


def add_start_options(p: argparse.ArgumentParser) -> None:
    add_runs_options(p)
    p.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up after S seconds")


def _where(args: argparse.Namespace) -> tuple[str, str]:
    project, region = getattr(args, "project", None), getattr(args, "region", None)
    if not project:
        import os

        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT")
    if not project or not region:
        raise InputError("the vertex target needs --project and --region (or a profile that sets them)")
    return str(project), str(region)


def ops(args: argparse.Namespace) -> VertexRuns:
    project, region = _where(args)
    return VertexRuns(project, region)


class VertexRuns:
    def __init__(self, project: str, region: str, credentials: Any = None, gcs: Any = None) -> None:
        self.project, self.region, self.credentials, self.gcs = project, region, credentials, gcs

    # ------------------------------------------------------------------ jobs
    def _kw(self) -> dict[str, Any]:
        return {"project": self.project, "location": self.region, "credentials": self.credentials}

    def _name(self, run_id: str) -> str:
        if run_id.startswith("projects/"):
            m = re.fullmatch(r"projects/[^/]+/locations/([^/]+)/pipelineJobs/[a-z0-9-]{1,128}", run_id)
            if m is None:
                raise RunNotFound(f"{shown(run_id[:120])} is not a PipelineJob resource name")
            # (its project may be the project's number: only the region is compared)
            if m.group(1) != self.region:
                raise RunNotFound(
                    shown(f"{run_id[:160]} is a PipelineJob in region {m.group(1)}, not in {self.region}")
                )
            return run_id
        if _JOB_ID.fullmatch(run_id) is None:
            raise RunNotFound(f"{run_id[:80]!r} is not a PipelineJob id")
        return f"projects/{self.project}/locations/{self.region}/pipelineJobs/{run_id}"

    def job(self, run_id: str) -> Any:
        from google.api_core.exceptions import NotFound
        from google.cloud import aiplatform

        try:
            job = aiplatform.PipelineJob.get(self._name(run_id), **self._kw())
        except NotFound:
            raise RunNotFound(f"no PipelineJob {run_id} in {self.project}/{self.region}") from None
        # another pipeline's job in the same project is not a run to cancel, retry or read run files of
        if not dict(job.gca_resource.labels).get(LABEL_WORKFLOW):
            raise RunNotFound(f"PipelineJob {run_id} is not a typedflow run (it has no {LABEL_WORKFLOW} label)")
        return job

    def deployment(self, workflow: str) -> Any | None:
        """The newest job ``deploy`` submitted for ``workflow``."""
        from google.cloud import aiplatform

        jobs = aiplatform.PipelineJob.list(
            filter=f'labels.{LABEL_WORKFLOW}="{label_value(workflow)}"', order_by="create_time desc", **self._kw()
        )
        jobs = sorted(jobs, key=lambda j: iso(_time(j.gca_resource.create_time)), reverse=True)
        return jobs[0] if jobs else None

    def _summary(self, job: Any) -> RunSummary:
        r = job.gca_resource
        started = iso(_time(r.start_time) or _time(r.create_time))
        ended = iso(_time(r.end_time))
        return RunSummary(
            r.name.rsplit("/", 1)[-1],
            str(dict(r.labels).get(LABEL_WORKFLOW) or r.display_name),
            status_of(r.state),
            started,
            ended,
            seconds_between(started, ended) if started and ended else None,
        )

    def _root(self, job: Any) -> str:
        root = str(job.gca_resource.runtime_config.gcs_output_directory or "")
        if not root:
            raise RunOpError(f"job {job.gca_resource.name} has no pipeline root")
        return root

    def _reader(self, root: str) -> Reader:
        return Reader(root, self.project, self.gcs)

    # ------------------------------------------------------------------ operations
    def list(self, workflow: str | None, status: str | None, limit: int) -> builtins.list[RunSummary]:
        from google.cloud import aiplatform

        terms = [f'labels.{LABEL_WORKFLOW}="{label_value(workflow)}"' if workflow else f"labels.{LABEL_WORKFLOW}:*"]
        if status:
            states = FILTERS[status]
            if not states:
                return []
            terms.append("(" + " OR ".join(f'state="{s}"' for s in states) + ")")
        jobs = aiplatform.PipelineJob.list(filter=" AND ".join(terms), order_by="create_time desc", **self._kw())
        runs = [self._summary(j) for j in jobs]
        if status:  # the filter is the server's; keep what was asked either way
            runs = [r for r in runs if r.status == status]
        return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)[:limit]

    def summary(self, run_id: str) -> RunSummary:
        """The run's state and times alone (what polling for its end needs)."""
        return self._summary(self.job(run_id))

    def show(self, run_id: str) -> RunDetail:
        from typedflow.lineage.cloud import iter_location

        job = self.job(run_id)
        summary = self._summary(job)
        root = self._root(job)
        records = []
        location = f"{root.rstrip('/')}/typedflow"
        try:
            for obj in iter_location(location, run_id=summary.run_id, client=self.gcs):
                try:  # a record that is not JSON (nested too deeply, NaN, too large) is left out
                    records.append(parse_json(obj.body, obj.uri))
                except BoundaryError:
                    continue
        except Exception as exc:  # records unreadable (permissions): the job's own state still shows
            print(f"typedflow runs: cannot read the lineage records under {location}: {exc}", file=sys.stderr)
        notes: builtins.list[str] = []
        failure = self._failure(job, summary, root, notes)
        link = (
            f"https://console.cloud.google.com/vertex-ai/locations/{self.region}/pipelines/runs/"
            f"{summary.run_id}?project={self.project}"
        )
        return RunDetail(summary, nodes_from_records(records), failure, (link,), tuple(notes))

    def _failure(
        self, job: Any, summary: RunSummary, root: str, notes: builtins.list[str] | None = None
    ) -> FailureInfo | None:
        """The run's failure record; the job's own error when there is none, or when it cannot be read (then
        with a note, in ``notes`` or else on stderr, naming what is wrong)."""
        if summary.status in ("succeeded", "running"):
            return None
        try:
            first = self._reader(root).json(run_dir(root, summary.run_id) + "/failure.json")
        except BoundaryError as exc:
            add_note(notes, f"{exc}: the failure shown is the job's own error")
            first = None
        if isinstance(first, dict):
            return FailureInfo.from_mapping(first)
        error = job.gca_resource.error
        message = str(getattr(error, "message", "") or "")
        return FailureInfo("", "cancelled" if summary.status == "cancelled" else "PIPELINE_STATE_FAILED", message)

    def outcome(self, run_id: str) -> RunOutcome:
        job = self.job(run_id)
        summary = self._summary(job)
        if summary.status == "running":
            raise RunOpError(f"run {summary.run_id} has no outputs yet: it is running")
        root = self._root(job)
        if summary.status != "succeeded":
            return RunOutcome(summary, None, None, self._failure(job, summary, root))
        data = self._reader(root).json(run_dir(root, summary.run_id) + "/outputs.json")
        if not isinstance(data, dict) or not isinstance(data.get("outputs"), dict):
            if not _declares_outputs(job):
                return RunOutcome(summary, None, {}, None, value=None, has_value=True)
            raise RunOpError(
                f"no outputs record under {run_dir(root, summary.run_id)}/ (the typedflow-outputs step did not "
                "run for this job: served from Vertex's cache, or compiled by an older typedflow)"
            )
        return RunOutcome(summary, None, data["outputs"], None, value=data.get("value"), has_value=True)

    def logs(self, run_id: str, node: str | None) -> Logs:
        job = self.job(run_id)
        summary = self._summary(job)
        root = self._root(job)
        reader = self._reader(root)
        base = run_dir(root, summary.run_id) + "/logs"
        entries = []
        for uri in reader.list(base):
            rest = uri[len(base) + 1 :]
            seg, _, file = rest.partition("/")
            if not file.endswith(".log") or not file[:-4].isdigit():
                continue
            key = node_key(seg)
            if node is not None and key != node:
                continue
            entries.append(LogEntry(key, int(file[:-4]), (reader.read(uri) or b"").decode("utf-8", "replace"), uri))
        entries.sort(key=lambda e: (e.node, e.attempt))
        query = (
            f'resource.type="aiplatform.googleapis.com/PipelineJob" resource.labels.pipeline_job_id="{summary.run_id}"'
        )
        from urllib.parse import quote

        link = f"https://console.cloud.google.com/logs/query;query={quote(query)}?project={self.project}"
        return Logs(tuple(entries), (f"everything the containers wrote: {link}",))

    def cancel(self, run_id: str) -> Started:
        job = self.job(run_id)
        summary = self._summary(job)
        if summary.status != "running":
            raise RunOpError(f"run {summary.run_id} is not running ({summary.status})")
        job.cancel()
        return Started(summary.run_id, "cancel requested (CancelPipelineJob)")

    def retry(self, run_id: str) -> Started:
        """Vertex cannot resume a job: submit its template again with its inputs and caching on, so the
        tasks that finished are served from Vertex's cache."""
        job = self.job(run_id)
        summary = self._summary(job)
        if summary.status == "running":
            raise RunOpError(f"run {summary.run_id} is still running")
        if summary.status == "succeeded":
            raise RunOpError(f"run {summary.run_id} succeeded: nothing to retry")
        new = resubmit(job, _parameters(job), self, enable_caching=True)
        return Started(
            new.resource_name.rsplit("/", 1)[-1],
            "submitted its template again with caching on (finished tasks are cache hits)",
        )


def _time(ts: Any) -> Any:
    """A protobuf timestamp (proto-plus gives a datetime) or None when unset."""
    if ts is None:
        return None
    if hasattr(ts, "year"):
        return ts if ts.year > 1970 else None
    seconds = getattr(ts, "seconds", 0)
    return None if not seconds else ts


def _declares_outputs(job: Any) -> bool:
    spec = _spec(job)
    return bool(spec.get("root", {}).get("outputDefinitions"))


def _spec(job: Any) -> dict[str, Any]:
    """The job's PipelineSpec as plain JSON (the Struct as Vertex keeps it)."""
    r = job.gca_resource
    spec = json.loads(type(r).to_json(r)).get("pipelineSpec") or {}
    return dict(spec)


def _parameters(job: Any) -> dict[str, Any]:
    """The job's parameter values as plain JSON, integers as the spec declares them."""
    r = job.gca_resource
    values = json.loads(type(r).to_json(r)).get("runtimeConfig", {}).get("parameterValues") or {}
    types = _spec(job).get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return {
        k: int(v)
        if types.get(k, {}).get("parameterType") == "NUMBER_INTEGER" and isinstance(v, float) and v.is_integer()
        else v
        for k, v in values.items()
    }


def _plain(value: Any) -> Any:
    """A proto-plus / protobuf Struct value as plain JSON."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ in ("RepeatedComposite", "RepeatedScalarContainer"):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
    return value


def resubmit(deployed: Any, parameters: dict[str, Any], where: VertexRuns, enable_caching: bool | None = None) -> Any:
    """Submit a new PipelineJob from a deployed job's template, pipeline root, service account, network and
    labels, with ``parameters``."""
    from google.cloud import aiplatform

    r = deployed.gca_resource
    spec = _spec(deployed)
    directory = Path(tempfile.mkdtemp(prefix="typedflow-vertex-"))
    path = directory / "pipeline.json"
    path.write_text(json.dumps(spec, sort_keys=True), "utf-8")
    job = aiplatform.PipelineJob(
        display_name=r.display_name or spec.get("pipelineInfo", {}).get("displayName") or "typedflow",
        template_path=str(path),
        pipeline_root=str(r.runtime_config.gcs_output_directory),
        parameter_values={k: _plain(v) for k, v in parameters.items()} or None,
        enable_caching=enable_caching,
        labels=dict(r.labels) or None,
        **where._kw(),
    )
    job.submit(service_account=r.service_account or None, network=r.network or None)
    return job


def start_command(doc: ir.WorkflowIR, args: argparse.Namespace, runs: VertexRuns | None = None) -> int:
    """``start --target vertex``: a new run of the deployed template with these inputs."""
    from typedflow.runtime.inputs import parse_inputs

    values = parse_inputs(doc, args.input or [], args.inputs_file, local_files=False)
    checked = check_parameters(doc, values)
    runs = runs or ops(args)
    deployed = runs.deployment(doc.workflow.name)
    if deployed is None:
        raise InputError(
            f"no deployment of {doc.workflow.name!r} in {runs.project}/{runs.region}: run typedflow deploy first"
        )
    ir_label = dict(deployed.gca_resource.labels).get(LABEL_IR)
    if ir_label and ir_label != deployment_labels(doc)[LABEL_IR]:
        print(
            f"typedflow start: note: the deployed template was compiled from another version of {doc.workflow.name} "
            "(deploy again to run this one); starting the deployed one",
            file=sys.stderr,
        )
    job = resubmit(deployed, checked, runs)
    print(job.resource_name, file=sys.stderr)
    if not args.wait:
        print(job.resource_name)
        return 0
    run_id = job.resource_name.rsplit("/", 1)[-1]
    t0, delay = time.monotonic(), 1.0
    while runs._summary(runs.job(run_id)).status == "running":
        if args.timeout is not None and time.monotonic() - t0 > args.timeout:
            print(f"job {run_id} is still running after {args.timeout:g}s", file=sys.stderr)
            return 1
        time.sleep(delay)
        delay = min(delay * 1.5, 15.0)
    outcome = runs.outcome(run_id)
    if outcome.failure is not None or outcome.summary.status != "succeeded":
        failure = outcome.failure or FailureInfo("", outcome.summary.status, "")
        sys.stderr.write(failure_text(failure, run_id))
        return 1
    print(json.dumps(outcome.value, indent=2, sort_keys=True))
    return 0
