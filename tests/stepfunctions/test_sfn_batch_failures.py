"""What a handler gets when an AWS Batch job fails, end to end on moto's Step Functions engine: its
``batch:submitJob.sync`` integration (with the mapping Step Functions does, see ``_patch_moto_batch`` in
tests/support/aws.py) submits the job to moto's Batch without Docker and polls ``DescribeJobs``; a failed job
reaches the state's Catch as ``States.TaskFailed`` with the job's description as the cause.

Two kinds of job: one whose container runs the typedflow runtime (here its entry point, ``run-task``, is called in
process with the job's environment: the task fails, the runtime keeps its Failure, the job exits 1),
and one that fails without running it (moto fails it at once, as AWS does a job killed for memory or whose image
did not start)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import handler_failure_flows as flows
from tests.support.aws import Aws
from tests.support.marks import marks_dir, seen
from typedflow.runtime.running import RunOptions, run_workflow


@pytest.fixture(params=["runs", "dies"])
def batch(aws: Aws, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Options that send ``crunch`` to a job queue of moto's Batch (without Docker) whose jobs either run the
    runtime (``runs``) or fail without running it (``dies``)."""
    import boto3
    from moto.batch_simple.models import BatchSimpleBackend
    from moto.core.config import default_user_config
    from typedflow.backends.stepfunctions.entrypoint import run_task

    monkeypatch.setitem(default_user_config, "batch", {"use_docker": False})
    if request.param == "dies":
        monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    else:

        def run_the_job(self: Any, include_start_attempt: bool, job: Any) -> None:
            env = {e["name"]: e["value"] for e in job.container_overrides.get("environment", [])}
            self.backend._jobs[job.job_id] = job
            job.job_started_at = datetime.datetime.now()
            job.log_stream_name = job._stream_name
            job._start_attempt()
            job._mark_stopped(success=run_task(env) == 0)

        monkeypatch.setattr(BatchSimpleBackend, "_mark_job_as_finished", run_the_job)
    name = f"typedflow-{uuid.uuid4().hex[:8]}"
    role = boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = boto3.client("batch")
    env = client.create_compute_environment(computeEnvironmentName=name, type="UNMANAGED", serviceRole=role)
    queue = client.create_job_queue(
        jobQueueName=name,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
    )
    jd = client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "typedflow:latest", "command": ["true"], "vcpus": 1, "memory": 512},
    )
    yield {
        "kind": request.param,
        "opts": aws.options(
            task_executors=(("crunch", "batch"),),
            batch_job_queue=queue["jobQueueArn"],
            batch_job_definition=jd["jobDefinitionArn"],
        ),
    }


def _local(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    marks = marks_dir(tmp_path, "local")
    r = run_workflow(wf, {**inputs, "marks": str(marks)}, RunOptions(store=tmp_path / "s", use_cache=False))
    assert not r.ok
    return seen(marks)


def _died(failure: dict[str, Any]) -> dict[str, Any]:
    """What a handler gets for a job that died before its runtime kept a Failure: its node's key, the error the
    Catch caught, and the job's status (moto's description of a failed job gives no reason or exit code)."""
    return {**failure, "error_type": "States.TaskFailed", "message": "the Batch job failed"} | (
        {"traceback": ""} if "traceback" in failure else {}
    )


CASES = [
    (flows.batch_job_fails, {"x": 1, "seconds": 0.6}),
    (flows.batch_items_fail, {"xs": [4, 5], "seconds": 0.0}),
]


@pytest.mark.parametrize(("wf", "inputs"), CASES, ids=lambda v: getattr(v, "name", None) or "")
def test_a_failed_jobs_handler_gets_its_nodes_failure(
    aws: Aws, batch: dict[str, Any], tmp_path: Path, wf: Any, inputs: dict[str, Any]
) -> None:
    """An exit handler of a block whose Batch job failed gets that job's node's Failure, not the run's first
    (``early``'s, which ``on_failure`` gets, as locally); each map item's handler its own item's. A job that ran
    the runtime: the whole Failure the local interpreter gives; one that died: its node, made of its status."""
    expected = _local(wf, inputs, tmp_path)
    marks = marks_dir(tmp_path, "sfn")
    remote = aws.run(wf.ir, {**inputs, "marks": str(marks)}, batch["opts"])
    assert remote.status == "FAILED"
    got = seen(marks)
    if batch["kind"] == "runs":
        assert got == expected
    else:
        assert got == {k: v if k == "on_failure" or v is None else _died(v) for k, v in expected.items()}
    crunched = [v["node"] for k, v in got.items() if k.startswith("closed")]
    assert crunched and all(node.endswith("crunch") for node in crunched)
