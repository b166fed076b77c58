"""End to end in moto's Step Functions engine: the SQS worker runs the real tasks; the decoded
outputs equal the local interpreter's for the same inputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.stepfunctions.options import Options

from tests.stepfunctions import sfn_flows as flows
from tests.stepfunctions.conftest import Aws, run_local
from tests.support import context_flows, settle_flows

PARITY = [
    (flows.chain, {"x": 3}),
    (flows.diamond, {"x": 4}),
    (flows.fan, {"n": 7, "k": 5}),
    (flows.fan, {"n": 0, "k": 5}),
    (flows.branch, {"x": 7, "name": "loud"}),
    (flows.branch, {"x": 2, "name": "quiet"}),
    (flows.branch_both, {"x": 4}),
    (flows.branch_both, {"x": 3}),
    (flows.branch_both, {"x": 1}),
    (flows.outer, {"x": 5}),
    (flows.outer, {"x": 0}),
    (flows.files, {"n": 12}),
    (flows.passthrough, {"n": 5}),
    (flows.big, {"kb": 300}),
    (flows.nested, {"n": 4, "k": 3}),
    (flows.nested, {"n": 2, "k": 0}),
    (flows.tuples, {"s": "ab", "dims": [3, 4]}),
    (settle_flows.settles_at_launch, {"xs": [1, 10, 2], "ns": [0, 3, 0]}),
]


@pytest.mark.parametrize(("wf", "inputs"), PARITY, ids=lambda v: getattr(v, "name", None) or json.dumps(v))
def test_outputs_equal_local(aws: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any]) -> None:
    local = run_local(wf, inputs, tmp_path)
    assert local.ok
    remote = aws.run(wf.ir, inputs)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs


def test_default_queue_of_the_account(aws: Aws) -> None:
    # the session queue is called typedflow-tasks: the definition finds it without --queue-url
    assert aws.queue_url.endswith("/typedflow-tasks")
    remote = aws.run(flows.chain.ir, {"x": 5}, Options(bucket=aws.bucket, map_size=10))
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": 14}


def test_retried_flaky_task(aws: Aws, tmp_path: Path) -> None:
    local = run_local(flows.retried, {"key": "local-1", "fail_times": 2}, tmp_path)
    t0 = time.monotonic()
    remote = aws.run(flows.retried.ir, {"key": "sfn-1", "fail_times": 2})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs == {"out": 4}
    assert time.monotonic() - t0 < 10  # IntervalSeconds 1 with full jitter: short waits
    retries = [e for e in aws.history(remote.arn) if e["type"] == "TaskFailed"]
    assert len(retries) == 2


def test_retry_exhausted_fails(aws: Aws) -> None:
    remote = aws.run(flows.retried.ir, {"key": "sfn-2", "fail_times": 5})
    assert remote.status == "FAILED"
    assert remote.error == "tests.stepfunctions.sfn_flows.Flaky"


def test_failure_runs_on_failure_then_fails(aws: Aws, tmp_path: Path) -> None:
    flows.FAILURES.clear()
    local = run_local(flows.failing, {"x": 1}, tmp_path)
    assert not local.ok
    remote = aws.run(flows.failing.ir, {"x": 1})
    assert remote.status == "FAILED"
    assert remote.error == "ValueError"
    assert len(flows.FAILURES) == 2
    here, there = flows.FAILURES
    assert there.run_id == remote.arn.rsplit(":", 1)[-1]
    for field in ("workflow", "node", "error_type", "message"):
        assert getattr(there, field) == getattr(here, field), field
    assert there.message == "cannot handle 2"
    assert there.traceback.strip().splitlines()[-1] == here.traceback.strip().splitlines()[-1]


def test_on_failure_handler_keeps_its_retry_policy(aws: Aws, tmp_path: Path) -> None:
    flows.FAILURES.clear()
    local = run_local(flows.failing_flaky_handler, {"x": 1, "key": "local-handler"}, tmp_path)
    handler = next(n for n in local.nodes if n.key == "on_failure/record_failure_flaky")
    assert (handler.status, handler.attempts) == ("succeeded", 2)
    remote = aws.run(flows.failing_flaky_handler.ir, {"x": 1, "key": "sfn-handler"})
    assert remote.status == "FAILED" and remote.error == "ValueError"
    assert [f.message for f in flows.FAILURES] == ["cannot handle 1", "cannot handle 1"]
    failed = [e for e in aws.history(remote.arn) if e["type"] == "TaskFailed"]
    errors = [e["taskFailedEventDetails"]["error"] for e in failed]
    assert errors == ["ValueError", "tests.stepfunctions.sfn_flows.Flaky"]  # the task, then the handler's 1st try
    run_id = remote.arn.rsplit(":", 1)[-1]
    keys = [
        o["Key"]
        for o in aws.s3.list_objects_v2(Bucket="typedflow-tests", Prefix=f"tf/lineage/{run_id}/").get("Contents", [])
    ]
    records = [json.loads(aws.s3.get_object(Bucket="typedflow-tests", Key=k)["Body"].read()) for k in keys]
    assert sorted((r["task"], r["attempt"], r["status"]) for r in records) == [
        ("explode", 1, "failed"),
        ("record_failure_flaky", 1, "failed"),
        ("record_failure_flaky", 2, "succeeded"),
    ]
    for r in records:  # a failed attempt's record spans the attempt (it started before it ended)
        assert r["started_at"] <= r["ended_at"], r


def test_large_value_is_offloaded(aws: Aws) -> None:
    remote = aws.run(flows.big_out.ir, {"kb": 300})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": "x" * 300 * 1024}
    assert remote.raw_output is not None and len(remote.raw_output) < 2048  # a reference, not the value
    sizes = [len(json.dumps(e, default=str)) for e in aws.history(remote.arn)]
    assert max(sizes) < 64 * 1024


def test_lineage_records_written(aws: Aws) -> None:
    remote = aws.run(flows.chain.ir, {"x": 10})
    run_id = remote.arn.rsplit(":", 1)[-1]
    keys = [
        o["Key"]
        for o in aws.s3.list_objects_v2(Bucket="typedflow-tests", Prefix=f"tf/lineage/{run_id}/").get("Contents", [])
    ]
    assert len(keys) == 3
    records = [json.loads(aws.s3.get_object(Bucket="typedflow-tests", Key=k)["Body"].read()) for k in keys]
    assert {r["target"] for r in records} == {"stepfunctions"}
    assert {r["executor"] for r in records} == {"sqs"}
    assert sorted(r["node_id"] for r in records) == ["double", "inc", "inc-2"]


def test_map_records_node_keys_with_indices(aws: Aws) -> None:
    remote = aws.run(flows.fan.ir, {"n": 2, "k": 1})
    run_id = remote.arn.rsplit(":", 1)[-1]
    keys = [
        o["Key"]
        for o in aws.s3.list_objects_v2(Bucket="typedflow-tests", Prefix=f"tf/lineage/{run_id}/").get("Contents", [])
    ]
    nodes = sorted(
        json.loads(aws.s3.get_object(Bucket="typedflow-tests", Key=k)["Body"].read())["node_id"] for k in keys
    )
    assert nodes == ["ints", "map[0]/add", "map[0]/square", "map[1]/add", "map[1]/square", "total"]


def test_tasks_see_the_run_context_they_see_locally(aws: Aws, tmp_path: Path) -> None:
    # typedflow.current_run() in a task: the same workflow, node keys, attempts and IR digest as on
    # the local interpreter; its own target, and the execution's name as the run id
    local = run_local(context_flows.context_plain, {"x": 2, "y": 3}, tmp_path)
    remote = aws.run(context_flows.context_plain.ir, {"x": 2, "y": 3})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs is not None
    digest = context_flows.context_plain.ir.digest
    assert local.outputs["first"] == f"context_plain|whereabouts|1|{digest}|2"
    assert local.outputs["second"] == f"context_plain|whereabouts-2|1|{digest}|3"
    assert {k: remote.outputs[k] for k in ("first", "second")} == {k: local.outputs[k] for k in ("first", "second")}
    assert local.outputs["target"] == f"local|{local.run_id}|2"
    assert remote.outputs["target"] == f"stepfunctions|{remote.arn.rsplit(':', 1)[-1]}|2"

    for mapped, path in [
        (context_flows.context_mapped, "whereabouts"),
        (context_flows.context_nested, "context_inner/whereabouts"),
    ]:  # in a sub-workflow
        local = run_local(mapped, {"xs": [5, 6]}, tmp_path)
        remote = aws.run(mapped.ir, {"xs": [5, 6]})
        assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
        assert (
            remote.outputs
            == local.outputs
            == {"out": [f"{mapped.name}|map[{i}]/{path}|1|{mapped.ir.digest}|{x}" for i, x in enumerate([5, 6])]}
        )

    local = run_local(context_flows.context_retried, {"key": "local-ctx"}, tmp_path)
    remote = aws.run(context_flows.context_retried.ir, {"key": "sfn-ctx"})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs == {"out": "attempt_seen|2"}  # the retry knows it is the second attempt
