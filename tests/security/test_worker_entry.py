"""The Step Functions worker's own settings and environment are checked before it serves anything: a
``--bucket`` that is not an S3 store, a missing region or a malformed ``TYPEDFLOW_ATTEMPT`` is one line on
stderr naming it, never a traceback, and no AWS call is made for a store it must refuse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typedflow.backends.stepfunctions.entrypoint import run_task

from typedflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_WORKER = [sys.executable, "-m", "typedflow.runtime", "stepfunctions", "worker"]


@pytest.mark.parametrize("bucket", ["/etc", "etc", "s3://", "s3:///prefix", "gs://bucket/p"])
def test_a_worker_bucket_that_is_not_an_s3_store_is_refused(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "stepfunctions", "--queue-url", "https://q", "--bucket", bucket]) == 2
    err = capsys.readouterr().err
    assert f"--bucket {bucket!r}: expected s3://bucket[/prefix]" in err


def test_the_runtime_worker_without_a_region_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PYTHONPATH=str(ROOT), AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    r = subprocess.run(
        [*RUNTIME_WORKER, "--queue-url", "https://sqs.example/1/q", "--bucket", "s3://bucket/p"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "typedflow worker: AWS: You must specify a region." in r.stderr


@pytest.mark.parametrize("attempt", ["x", "-1", "1.5", "9" * 50, "\u0661"])  # the last: an Arabic-Indic digit one
def test_a_malformed_attempt_count_names_the_variable(attempt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_task({"TYPEDFLOW_REQUEST": "{}", "TYPEDFLOW_ATTEMPT": attempt}) == 1
    assert "typedflow.RequestError: TYPEDFLOW_ATTEMPT: not a retry count" in capsys.readouterr().err
