"""The typedflow command with --target stepfunctions: compile, deploy (idempotent, versions,
schedule, IAM policy), start --wait (prints what `typedflow run` prints), and the worker entrypoint."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stepfunctions import sfn_flows as flows
from tests.stepfunctions.conftest import ROLE, Aws
from typedflow.cli import main

SPEC = "tests.stepfunctions.sfn_flows:"


# The flows live under tests/, which a code bundle leaves out; the in-process worker imports them.
NO_BUNDLE = "--no-bundle"


def target(aws: Aws) -> list[str]:
    return ["--target", "stepfunctions", "--queue-url", aws.queue_url, "--bucket", aws.bucket]


def test_compile_command(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", SPEC + "chain", *target(aws), NO_BUNDLE]) == 0
    definition = json.loads(capsys.readouterr().out)
    aws.asl.check(definition)
    assert definition["StartAt"] == "inputs"


def test_deploy_is_idempotent_and_start_waits(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["deploy", SPEC + "diamond", *target(aws), NO_BUNDLE, "--role-arn", ROLE, "--name", "cli-diamond"]
    assert main(args) == 0
    first = capsys.readouterr()
    arn = first.out.strip()
    assert arn.endswith(":stateMachine:cli-diamond") and "created" in first.err
    assert main(args) == 0
    again = capsys.readouterr()
    assert again.out.strip() == arn and "unchanged" in again.err
    assert f"version {arn}:1" in first.err  # moto has no ListStateMachineVersions
    rc = main(
        [
            "start",
            SPEC + "diamond",
            *target(aws),
            "--name",
            "cli-diamond",
            "--input",
            "x=4",
            "--wait",
            "--timeout",
            "60",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert json.loads(out) == {"label": "10+25", "total": 35}
    assert out == json.dumps({"label": "10+25", "total": 35}, indent=2, sort_keys=True) + "\n"


def test_start_prints_single_output_like_run(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", SPEC + "chain", *target(aws), NO_BUNDLE, "--role-arn", ROLE, "--name", "cli-chain"]) == 0
    capsys.readouterr()
    assert main(["start", SPEC + "chain", *target(aws), "--name", "cli-chain", "--input", "x=1", "--wait"]) == 0
    assert capsys.readouterr().out == "6\n"


def test_deploy_updates_and_publishes_a_new_version(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["deploy", SPEC + "chain", *target(aws), NO_BUNDLE, "--role-arn", ROLE, "--name", "cli-versions"]
    assert main(base) == 0
    assert main([*base, "--heartbeat-seconds", "120"]) == 0
    captured = capsys.readouterr()
    arn = captured.out.split()[0]
    assert "updated" in captured.err and f"version {arn}:2" in captured.err
    definition = json.loads(aws.sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert '"heartbeat":120' in json.dumps(definition, separators=(",", ":"))


def test_deploy_creates_schedule(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", SPEC + "nightly", *target(aws), NO_BUNDLE, "--role-arn", ROLE]) == 0
    arn = capsys.readouterr().out.strip()
    schedule = aws.scheduler.get_schedule(Name="nightly")
    assert schedule["ScheduleExpression"] == "cron(30 2 ? * 2-6 *)"
    assert schedule["Target"]["Arn"] == arn
    assert json.loads(schedule["Target"]["Input"]) == {"x": 1}


@pytest.mark.parametrize("which", ["state-machine", "worker", "deployer"])
def test_print_iam_policy(aws: Aws, capsys: pytest.CaptureFixture[str], which: str) -> None:
    assert main(["deploy", SPEC + "chain", *target(aws), NO_BUNDLE, "--print-iam-policy", which]) == 0
    policy: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert policy["Version"] == "2012-10-17" and policy["Statement"]


def test_deploy_needs_role(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", SPEC + "chain", *target(aws), NO_BUNDLE]) == 2
    assert "--role-arn" in capsys.readouterr().err


def test_bad_input_is_usage_error(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", SPEC + "chain", *target(aws), "--name", "cli-chain", "--input", "y=1"]) == 2
    assert 'unknown input "y"' in capsys.readouterr().err


def test_worker_ignores_foreign_messages(aws: Aws) -> None:
    assert aws.worker.handle("not json") is None
    assert aws.worker.handle(json.dumps({"hello": 1})) is None


def test_runtime_entrypoint_dispatch(capsys: pytest.CaptureFixture[str]) -> None:
    from typedflow.runtime.__main__ import main as runtime_main

    assert runtime_main(["stepfunctions", "--help"]) == 0
    assert "run-task" in capsys.readouterr().out


def test_run_task_entrypoint_writes_batch_result(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from typedflow.backends.stepfunctions.entrypoint import main as entry
    from typedflow.backends.stepfunctions.runtime import publish_ir, store_for

    publish_ir(store_for(aws.bucket, aws.s3), flows.chain.ir)
    request = {
        "v": 1,
        "ir": flows.chain.ir.digest,
        "task": "inc",
        "node": "inc",
        "run": "batch-run-1",
        "args": {"x": 41},
        "inline": [],
        "elementwise": [],
        "offload": 32768,
        "store": aws.bucket,
    }
    monkeypatch.setenv("TYPEDFLOW_REQUEST", json.dumps(request))
    monkeypatch.setenv("TYPEDFLOW_RESULT_URI", "s3://typedflow-tests/tf/results/batch-run-1/inc.json")
    monkeypatch.setenv("TYPEDFLOW_ATTEMPT", "0")
    monkeypatch.setenv("TYPEDFLOW_BUCKET", aws.bucket)  # what the compiled definition sets
    assert entry(["run-task"]) == 0
    body = aws.s3.get_object(Bucket="typedflow-tests", Key="tf/results/batch-run-1/inc.json")["Body"].read()
    assert json.loads(body) == {"out": 42}
    assert flows.inc.fn(41) == 42


def test_lambda_handler_reports_the_task_error(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from typedflow.backends.stepfunctions.entrypoint import lambda_handler
    from typedflow.backends.stepfunctions.runtime import publish_ir, store_for

    publish_ir(store_for(aws.bucket, aws.s3), flows.failing.ir)
    base = {
        "v": 1,
        "ir": flows.failing.ir.digest,
        "node": "x",
        "run": "lambda-run-1",
        "inline": [],
        "elementwise": [],
        "offload": 32768,
        "store": aws.bucket,
    }
    monkeypatch.setenv("TYPEDFLOW_BUCKET", aws.bucket)  # the function's configured store
    assert lambda_handler({"typedflow": {**base, "task": "inc", "args": {"x": 1}}}) == {"out": 2}
    with pytest.raises(Exception, match="cannot handle 3") as info:
        lambda_handler({"typedflow": {**base, "task": "explode", "args": {"x": 3}}})
    assert type(info.value).__name__ == "ValueError"  # what Step Functions sees as the error name


def test_deploy_without_credentials_is_one_line(tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(root),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "deploy",
            "tests.stepfunctions.sfn_flows:chain",
            "--target",
            "stepfunctions",
            "--role-arn",
            ROLE,
            "--bucket",
            "s3://b/p",
            NO_BUNDLE,
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == "typedflow deploy: AWS: Unable to locate credentials"
