"""Profiles in [tool.typedflow.profiles.NAME] of the nearest pyproject.toml: read by deploy, start, worker,
build and runs; flags override them; `typedflow config show` says where each setting came from."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws import ROLE, Aws
from typedflow.cli import main

SPEC = "tests.runs.runs_flows:"


@pytest.fixture()
def project(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [project]
            name = "demo"
            version = "0"

            [tool.typedflow.profiles.prod]
            target = "stepfunctions"
            bucket = "{aws.bucket}"
            queue-url = "{aws.queue_url}"
            role-arn = "{ROLE}"
            name = "profile-pairs"
            heartbeat_seconds = 90
            no-bundle = true
            registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

            [tool.typedflow.profiles.typo]
            target = "stepfunctions"
            buckt = "s3://x"

            [tool.typedflow.profiles.wrongtype]
            target = "stepfunctions"
            heartbeat-seconds = "soon"

            [tool.typedflow.profiles.numbertarget]
            target = 5

            [tool.typedflow.profiles.listregion]
            target = "stepfunctions"
            region = ["us-east-1"]
            """
        )
    )
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # the nearest pyproject.toml is two folders up
    monkeypatch.delenv("TYPEDFLOW_PROFILE", raising=False)
    return tmp_path


def test_deploy_start_runs_with_a_profile(
    project: Path, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["deploy", SPEC + "pairs", "--profile", "prod"]) == 0
    arn = capsys.readouterr().out.strip()
    assert arn.endswith(":stateMachine:profile-pairs")
    definition = aws.sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    assert '"heartbeat":90' in definition.replace(" ", "")
    monkeypatch.setenv("TYPEDFLOW_PROFILE", "prod")
    assert main(["start", SPEC + "pairs", "--input", "x=4", "--wait"]) == 0
    assert capsys.readouterr().out.endswith(json.dumps({"doubled": 8, "note": "x=4"}, indent=2) + "\n")
    assert main(["runs", "list", "--limit", "1"]) == 0  # runs on the profile's target
    assert capsys.readouterr().out.splitlines()[1].split()[1:3] == ["pairs", "succeeded"]


def test_flags_override_the_profile(project: Path, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["deploy", SPEC + "pairs", "--profile", "prod", "--print-iam-policy", "worker"]
    assert main(args) == 0
    policy = json.loads(capsys.readouterr().out)
    assert {s["Sid"]: s for s in policy["Statement"]}["Artifacts"]["Resource"] == ["arn:aws:s3:::typedflow-tests/tf/*"]
    assert main([*args, "--bucket", "s3://elsewhere/p"]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert {s["Sid"]: s for s in policy["Statement"]}["Artifacts"]["Resource"] == ["arn:aws:s3:::elsewhere/p/*"]


def test_worker_and_build_read_the_profile(
    project: Path, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typedflow.backends.stepfunctions import worker

    seen: dict[str, Any] = {}

    def run(self: Any) -> None:
        seen.update(queue=self.queue_url, bucket=self.bucket)

    monkeypatch.setattr(worker.Worker, "run", run)
    monkeypatch.setattr(worker, "check_environment", lambda bucket, s3=None: [])
    assert main(["worker", "--profile", "prod"]) == 0
    assert seen == {"queue": aws.queue_url, "bucket": aws.bucket}
    capsys.readouterr()
    context = project / "ctx"
    assert main(["build", SPEC + "pairs", "--profile", "prod", "--no-engine", "--context-dir", str(context)]) == 0
    assert "123456789012.dkr.ecr.us-east-1.amazonaws.com/typedflow-env:" in capsys.readouterr().out


def test_config_show_names_each_source(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--profile", "prod"]) == 0
    captured = capsys.readouterr()
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in captured.out.splitlines()[1:]}
    where = f"profile prod ({project / 'pyproject.toml'})"
    assert rows["target"] == ["stepfunctions", where]
    assert rows["bucket"] == ["s3://typedflow-tests/tf", where]
    assert rows["heartbeat_seconds"] == ["90", where]
    assert rows["executor"] == ["sqs", "default"]
    assert rows["region"] == ["us-east-1", "environment AWS_DEFAULT_REGION"]
    assert "selected by --profile" in captured.err
    assert main(["config", "show"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["target", "-"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["config", "show", "--profile", "typo"], "unknown setting buckt"),
        (["deploy", SPEC + "pairs", "--profile", "typo"], "unknown setting buckt"),
        (["deploy", SPEC + "pairs", "--profile", "wrongtype"], "heartbeat_seconds: expected an integer, got 'soon'"),
        (["start", SPEC + "pairs", "--profile", "nope"], "no profile 'nope' in"),
        (["runs", "list", "--profile", "numbertarget"], "target: expected a string, got 5"),
        (["config", "show", "--profile", "listregion"], "region: expected a string, got ['us-east-1']"),
        (["runs", "list", "--profile"], "--profile needs a NAME"),
        (["deploy", SPEC + "pairs"], "--target is required (or a profile with a target"),
    ],
)
def test_bad_profiles_are_one_line_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
