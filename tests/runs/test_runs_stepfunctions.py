"""``start`` and ``typedflow runs`` on Step Functions, in moto: the deployment read back from the state
machine's tags, ListExecutions, DescribeExecution, GetExecutionHistory, StopExecution, a retry (moto has
no RedriveExecution: a new execution whose finished tasks are cache hits), the failure record, the
tasks' output from S3, and the worker's log lines."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from tests.support.aws import ROLE, Aws
from typedflow.cli import main

SPEC = "tests.runs.runs_flows:"
T = ["--target", "stepfunctions"]


def deploy(aws: Aws, wf: str, name: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    args = ["deploy", SPEC + wf, *T, "--queue-url", aws.queue_url, "--bucket", aws.bucket, "--no-bundle"]
    assert main([*args, "--role-arn", ROLE, "--name", name, *extra]) == 0
    return capsys.readouterr().out.strip()


def start(wf: str, name: str, *inputs: str, wait: bool = True) -> int:
    args = ["start", SPEC + wf, *T, "--name", name]  # no --bucket: the deployment says where
    for i in inputs:
        args += ["--input", i]
    return main([*args, "--wait", "--timeout", "60"] if wait else args)


def runs(*args: str) -> int:
    return main(["runs", *args, *T])


def test_start_reads_the_deployment_and_runs_commands(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = deploy(aws, "flaky", "runs-flaky", capsys)
    tags = {t["key"]: t["value"] for t in aws.sfn.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags["typedflow:bucket"] == aws.bucket and tags["typedflow:workflow"] == "flaky"
    flag = tmp_path / "flag"

    assert start("flaky", "runs-flaky", "x=3", f"flag={flag}") == 0
    # (the in-process worker's tasks print to this process's stdout too)
    assert capsys.readouterr().out.endswith("gate 6\n7\n")
    flag.touch()
    assert start("flaky", "runs-flaky", "x=2", f"flag={flag}") == 1
    err = capsys.readouterr().err
    assert "failed at node gate: RuntimeError: blocked by flag" in err  # the runtime's record, not a bare name
    assert 'raise RuntimeError(f"blocked by {Path(flag).name}")' in err  # ...and its traceback

    assert runs("list", "--name", "runs-flaky") == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["RUN", "WORKFLOW", "STATUS", "STARTED", "DURATION"]
    assert [r[1:3] for r in rows[1:3]] == [["flaky", "failed"], ["flaky", "succeeded"]]
    bad, ok = rows[1][0], rows[2][0]
    assert runs("list", "--name", "runs-flaky", "--status", "succeeded") == 0
    assert [r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]] == [ok]
    assert runs("list", SPEC + "flaky", "--limit", "1") == 0  # by the workflow's own (tagged) name
    assert len(capsys.readouterr().out.splitlines()) == 2

    assert runs("outputs", ok) == 0
    assert capsys.readouterr().out == "7\n"
    assert runs("outputs", bad) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "failed at node gate: RuntimeError: blocked by flag" in captured.err

    assert runs("show", bad) == 0
    shown = capsys.readouterr().out
    assert "status    failed" in shown and f"run {bad} failed at node gate: RuntimeError" in shown
    assert 'raise RuntimeError(f"blocked by {Path(flag).name}")' in shown
    table = {line.split()[0]: line.split() for line in shown.splitlines() if line.startswith(("shout ", "gate "))}
    assert table["shout"][1:3] == ["succeeded", "1"] and table["gate"][1:3] == ["failed", "1"]
    assert "console.aws.amazon.com/states/home" in shown

    assert runs("logs", bad) == 0
    logs = capsys.readouterr().out
    assert "==> shout (attempt 1) <==\nshout 2\nshout 2 on stderr\n" in logs
    assert "==> gate (attempt 1) <==\ngate 4\n" in logs
    execution_arn = f"{arn.replace(':stateMachine:', ':execution:')}:{bad}"
    assert runs("logs", execution_arn, "--node", "gate") == 0  # an ARN names a run too
    assert capsys.readouterr().out == "==> gate (attempt 1) <==\ngate 4\n"

    # retry: moto has no RedriveExecution, so a new execution with the same input; shout is a cache hit
    flag.unlink()
    assert runs("retry", bad, "--wait") == 0
    captured = capsys.readouterr()
    assert captured.out.endswith("gate 4\n5\n") and "shout" not in captured.out  # shout: a cache hit
    assert "RedriveExecution is not available here; started a new execution" in captured.err
    new = captured.err.split(": ")[-1].strip().split()[0]
    assert runs("show", new) == 0
    table = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if " " in line}
    assert table["shout"][1] == "cached" and table["gate"][1] == "succeeded"
    assert runs("retry", new) == 2
    assert "succeeded: nothing to retry" in capsys.readouterr().err


def test_cancel_stops_the_execution(aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # moto notices a stop when the waiting task's next heartbeat arrives: the worker beats every
    # heartbeat/3 seconds, so a short heartbeat keeps this test short
    deploy(aws, "held", "runs-held", capsys, "--heartbeat-seconds", "3")
    hold = tmp_path / "hold"
    hold.touch()
    try:
        assert start("held", "runs-held", "x=1", f"hold={hold}", wait=False) == 0
        execution = capsys.readouterr().out.strip()
        name = execution.rsplit(":", 1)[-1]
        deadline = time.time() + 30
        while time.time() < deadline:  # until the slow task is with the worker
            assert runs("show", name) == 0
            if any(line.split()[:2] == ["slow", "running"] for line in capsys.readouterr().out.splitlines()):
                break
            time.sleep(0.1)
        assert runs("cancel", name) == 0
        assert "stopped (StopExecution)" in capsys.readouterr().err
        while time.time() < deadline and aws.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            time.sleep(0.05)
        d = aws.sfn.describe_execution(executionArn=execution)
        # AWS ends a stopped execution ABORTED; moto fails the task it waits on with States.Timeout,
        # which the definition's Catch turns into FAILED: either way it stopped at once.
        assert (d["status"], d.get("error")) in (("ABORTED", None), ("FAILED", "States.Timeout")), d
        shown_as = "cancelled" if d["status"] == "ABORTED" else "failed"
        assert runs("list", "--name", "runs-held", "--status", shown_as) == 0
        assert name in capsys.readouterr().out
        assert runs("cancel", name) == 2
        assert f"is not running ({shown_as})" in capsys.readouterr().err
    finally:
        hold.unlink(missing_ok=True)  # the worker's task ends; its answer finds the execution stopped


def test_nested_failure_node_key(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    deploy(aws, "nested", "runs-nested", capsys)
    assert start("nested", "runs-nested", "xs=[1,5,1]") == 1
    assert "failed at node map[1]/explode: ValueError: cannot handle 10" in capsys.readouterr().err
    assert runs("list", "--name", "runs-nested", "--limit", "1") == 0
    rid = capsys.readouterr().out.splitlines()[1].split()[0]
    assert runs("show", rid) == 0
    shown = capsys.readouterr().out
    assert "failed at node map[1]/explode: ValueError: cannot handle 10" in shown
    rows = {line.split()[0]: line.split()[1] for line in shown.splitlines() if line.startswith("map[")}
    assert rows["map[1]/explode"] == "failed", rows
    assert rows["map[1]/shout"] in ("succeeded", "cached")
    # The failed item stops the Map: another item's tasks ran (or were a cache hit from another test of this
    # session on the same bucket), were stopped with the run, or never started.
    others = {k: v for k, v in rows.items() if not k.startswith("map[1]/")}
    assert set(others.values()) <= {"succeeded", "cached", "cancelled"}, rows


def test_unknown_runs_are_usage_errors(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["show", "no-such-run"], ["outputs", "a b"], ["cancel", "arn:aws:states:us-east-1:1:stateMachine:x"]):
        assert runs(*args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err


def test_worker_logs_a_line_per_task(aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog) -> None:
    deploy(aws, "flaky", "runs-flaky-log", capsys)
    flag = tmp_path / "flag"
    flag.touch()
    with caplog.at_level(logging.INFO, logger="typedflow.backends.stepfunctions.worker"):
        assert start("flaky", "runs-flaky-log", "x=9", f"flag={flag}") == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "typedflow.backends.stepfunctions.worker"]
    started = [m for m in lines if m.startswith("task shout (node shout") and m.endswith("started")]
    done = [m for m in lines if m.startswith("task shout (node shout") and " done in " in m]
    failed = [m for m in lines if m.startswith("task gate (node gate") and " failed after " in m]
    assert started and done and failed
    assert failed[0].endswith("RuntimeError: blocked by flag") and "\n" not in failed[0]


def test_worker_backs_off_with_one_line_when_the_queue_is_unreachable(caplog) -> None:
    import boto3
    from botocore.config import Config
    from typedflow.backends.stepfunctions.worker import Worker

    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=0.2, read_timeout=0.2)
    sqs = boto3.client("sqs", endpoint_url="http://127.0.0.1:9", config=cfg)
    w = Worker("http://127.0.0.1:9/123456789012/q", bucket="s3://b/p", sqs=sqs, sfn=object(), wait_seconds=0)
    w.first_backoff = 0.1
    with caplog.at_level(logging.INFO, logger="typedflow.backends.stepfunctions.worker"):
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        time.sleep(2.0)
        w.stop()
        t.join(timeout=10)
    lines = [r for r in caplog.records if r.name == "typedflow.backends.stepfunctions.worker"]
    assert 3 <= len(lines) <= 6, [r.getMessage() for r in lines]  # 0.1, 0.2, 0.4, 0.8 s: not a flood
    for r in lines:
        assert r.exc_info is None and "\n" not in r.getMessage()
        assert "cannot receive from http://127.0.0.1:9/123456789012/q (EndpointConnectionError" in r.getMessage()
    assert [r.getMessage().rsplit(" ", 1)[-1] for r in lines[:3]] == ["0.1s", "0.2s", "0.4s"]
    json.dumps([r.getMessage() for r in lines])


def test_only_runs_typedflow_deployed_are_operated_on(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An execution ARN names a run only when it is an execution of a state machine deploy made, and not a
    child state machine's execution inside a run: retrying one of those alone would run its part again under
    the run id of the run that started it, and cancelling another deployment's execution is not ours to do."""
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    fail = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}}
    waiting = aws.sfn.create_state_machine(name="not-ours-wait", definition=json.dumps(wait), roleArn=ROLE)
    failing = aws.sfn.create_state_machine(name="not-ours-fail", definition=json.dumps(fail), roleArn=ROLE)
    running = aws.sfn.start_execution(stateMachineArn=waiting["stateMachineArn"], name="w1")["executionArn"]
    failed = aws.sfn.start_execution(stateMachineArn=failing["stateMachineArn"], name="f1")["executionArn"]
    deadline = time.time() + 10
    while time.time() < deadline and aws.sfn.describe_execution(executionArn=failed)["status"] == "RUNNING":
        time.sleep(0.05)
    for args in (["cancel", running], ["retry", failed], ["show", failed], ["logs", running]):
        assert runs(*args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "of a state machine typedflow deployed" in err, err
    assert aws.sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
    assert len(aws.sfn.list_executions(stateMachineArn=failing["stateMachineArn"])["executions"]) == 1
    aws.sfn.stop_execution(executionArn=running)

    deploy(aws, "long_chain", "runs-split", capsys, "--max-states", "16")
    flag = tmp_path / "flag"
    flag.touch()
    assert start("long_chain", "runs-split", "x=1", f"flag={flag}") == 1
    capsys.readouterr()
    machines = {m["name"]: m["stateMachineArn"] for m in aws.sfn.list_state_machines()["stateMachines"]}
    children = [arn for name, arn in machines.items() if name.startswith("runs-split-")]
    assert children, machines
    (parent,) = aws.sfn.list_executions(stateMachineArn=machines["runs-split"])["executions"]
    child = next(
        e
        for arn in children
        for e in aws.sfn.list_executions(stateMachineArn=arn)["executions"]
        if e["status"] == "FAILED"
    )
    before = {arn: len(aws.sfn.list_executions(stateMachineArn=arn)["executions"]) for arn in children}
    for cmd in ("retry", "show"):
        assert runs(cmd, child["executionArn"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"part of another run (started by {parent['executionArn']})" in err, err
    assert {arn: len(aws.sfn.list_executions(stateMachineArn=arn)["executions"]) for arn in children} == before
    assert runs("show", parent["executionArn"]) == 0  # the run itself, by its ARN
    assert "failed at node gate: RuntimeError: blocked by flag" in capsys.readouterr().out
    # a run of the deployed state machine that another state machine started (passing its own id) is a run
    given = {"x": 1, "flag": str(flag), "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": running}
    nested = aws.sfn.start_execution(stateMachineArn=machines["runs-split"], input=json.dumps(given))
    assert runs("show", nested["executionArn"]) == 0
    assert "workflow  long_chain" in capsys.readouterr().out
    # nothing of this test runs on: its tasks would reach the next tests' workers on the shared queue (moto
    # leaves a stopped parent's child running, so the children are stopped too)
    for arn in [machines["runs-split"], *children]:
        for e in aws.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            aws.sfn.stop_execution(executionArn=e["executionArn"])


def test_a_damaged_failure_record_still_shows_the_run(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure record in the store that is not JSON (or too large) leaves show and outputs with the
    execution's own error and cause, and a note naming the record: not one error line in place of the run."""
    deploy(aws, "flaky", "runs-flaky-damaged", capsys)
    flag = tmp_path / "flag"
    flag.touch()
    assert start("flaky", "runs-flaky-damaged", "x=2", f"flag={flag}") == 1
    capsys.readouterr()
    assert runs("list", "--name", "runs-flaky-damaged") == 0
    rid = capsys.readouterr().out.splitlines()[1].split()[0]
    bucket, _, prefix = aws.bucket[len("s3://") :].partition("/")
    aws.s3.put_object(Bucket=bucket, Key=f"{prefix}/runs/{rid}/failures/gate.json", Body=b"\xff\x00 not json")

    assert runs("show", rid) == 0
    shown = capsys.readouterr().out
    assert "status    failed" in shown and f"run {rid} failed at node gate: RuntimeError" in shown, shown
    assert f"note: the failure of run {rid}: not UTF-8 text" in shown
    table = {line.split()[0]: line.split() for line in shown.splitlines() if line.startswith(("shout ", "gate "))}
    assert table["gate"][1] == "failed"
    assert runs("show", rid, "--json") == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["failure"]["node"] == "gate" and "not UTF-8 text" in detail["notes"][0]
    assert runs("outputs", rid) == 1
    err = capsys.readouterr().err
    assert f"run {rid} failed at node gate: RuntimeError" in err and "note: the failure of run" in err, err


def test_retry_wait_polls_the_execution_not_its_records(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`runs retry --wait` polled with a whole `show` each time: every node's lineage records listed and read
    again (thousands for a large map, on every poll). It polls DescribeExecution alone."""
    import boto3

    deploy(aws, "flaky", "runs-flaky-poll", capsys)
    flag = tmp_path / "flag"
    flag.touch()
    assert start("flaky", "runs-flaky-poll", "x=4", f"flag={flag}") == 1
    capsys.readouterr()
    assert runs("list", "--name", "runs-flaky-poll") == 0
    bad = capsys.readouterr().out.splitlines()[1].split()[0]
    flag.unlink()
    listed: list[str] = []

    def count(params: dict[str, object], **_: object) -> None:
        if "/lineage/" in str(params.get("Prefix", "")):
            listed.append(str(params["Prefix"]))

    events = boto3._get_default_session().events
    events.register("before-parameter-build.s3.ListObjectsV2", count)
    try:
        assert runs("retry", bad, "--wait") == 0
    finally:
        events.unregister("before-parameter-build.s3.ListObjectsV2", count)
    assert capsys.readouterr().out.endswith("gate 8\n9\n")
    assert listed == []


def test_list_running_asks_for_executions_pending_redrive(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    """`show` calls a PENDING_REDRIVE execution running (a redriven one about to run again), and `list --status
    running` asked ListExecutions for RUNNING alone, so it left such runs out. moto cannot make an execution
    pending redrive (it has no RedriveExecution): the filters asked for are what is checked."""
    import boto3

    deploy(aws, "flaky", "runs-flaky-pending", capsys)
    filters: list[str] = []

    def record(params: dict[str, object], **_: object) -> None:
        filters.append(str(params.get("statusFilter")))

    events = boto3._get_default_session().events
    events.register("before-parameter-build.stepfunctions.ListExecutions", record)
    try:
        assert runs("list", "--name", "runs-flaky-pending", "--status", "running") == 0
    finally:
        events.unregister("before-parameter-build.stepfunctions.ListExecutions", record)
    assert sorted(set(filters)) == ["PENDING_REDRIVE", "RUNNING"]


def test_a_damaged_lineage_record_is_left_out_of_show(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lineage record of the run nested too deeply (or with NaN) ended runs show in a RecursionError
    traceback: such a record is left out like one that is not JSON, and the run is shown."""
    deploy(aws, "flaky", "runs-flaky-records", capsys)
    flag = tmp_path / "flag"
    assert start("flaky", "runs-flaky-records", "x=1", f"flag={flag}") == 0
    capsys.readouterr()
    assert runs("list", "--name", "runs-flaky-records") == 0
    rid = capsys.readouterr().out.splitlines()[1].split()[0]
    bucket, _, prefix = aws.bucket[len("s3://") :].partition("/")
    planted = [f"{prefix}/lineage/{rid}/{name}.json" for name in ("deep", "nan")]
    bodies = (b"[" * 100_000 + b"]" * 100_000, b'{"node_id": "x", "attempt": NaN}')
    try:
        for key, body in zip(planted, bodies, strict=True):
            aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert runs("show", rid) == 0
        out = capsys.readouterr().out
    finally:  # the bucket is the session's: other tests read every record in it
        for key in planted:
            aws.s3.delete_object(Bucket=bucket, Key=key)
    rows = [line.split()[0] for line in out.split("NODE ", 1)[1].splitlines()[1:] if line.strip()]
    assert "status    succeeded" in out and rows[:2] == ["shout", "gate"] and "x" not in rows, out


def test_a_log_named_with_control_characters(aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The node of a log is read from its object's name in the store: `runs logs` printed one named
    `%1b%5b2J` as a raw escape sequence (clearing the terminal) in its header."""
    deploy(aws, "flaky", "runs-flaky-lognames", capsys)
    flag = tmp_path / "flag"
    assert start("flaky", "runs-flaky-lognames", "x=3", f"flag={flag}") == 0
    capsys.readouterr()
    assert runs("list", "--name", "runs-flaky-lognames") == 0
    rid = capsys.readouterr().out.splitlines()[1].split()[0]
    bucket, _, prefix = aws.bucket[len("s3://") :].partition("/")
    planted = f"{prefix}/runs/{rid}/logs/%1b%5b2J/1.log"
    aws.s3.put_object(Bucket=bucket, Key=planted, Body=b"planted\n")
    try:
        assert runs("logs", rid) == 0
        out = capsys.readouterr().out
    finally:  # the bucket is the session's
        aws.s3.delete_object(Bucket=bucket, Key=planted)
    assert "==> \\x1b[2J (attempt 1) <==\nplanted\n" in out and "\x1b" not in out, out
