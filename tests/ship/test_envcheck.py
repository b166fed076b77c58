"""A self-hosted worker checks its environment against the declared environments of the workflows
deployed to its store: it lists what is missing at start, and a task whose environment it lacks fails
with what is missing (not an ImportError from inside the task)."""

from __future__ import annotations

import argparse
from pathlib import Path

from typedflow.backends.stepfunctions.worker import check_environment, worker_command

from tests.ship.projects import forget, load, unique, write_project
from tests.support.aws import Aws
from typedflow import ir
from typedflow.shipping.envcheck import missing

FLOWS = """
from typedflow import Environment, task, workflow


@task
def plain(x: int) -> int:
    return x + 1


@task(environment=Environment(packages=["typedflow-no-such-package>=1", "attrs<1"]))
def needy(x: int) -> int:
    return x * 2


@workflow
def mixed(x: int) -> int:
    return needy(x=plain(x=x))
"""


def test_missing_names_what_is_not_installed_or_out_of_range() -> None:
    assert missing(ir.EnvironmentSpec(packages=("attrs>=1", "packaging"))) == []
    assert missing(ir.EnvironmentSpec(python="3.99", packages=("attrs<1", "typedflow-no-such-package"))) == [
        "Python 3.99 (this is 3.11)",
        f"attrs<1 ({__import__('attrs').__version__} installed)",
        "typedflow-no-such-package (not installed)",
    ]


def test_the_worker_lists_what_it_lacks_at_start_and_the_task_fails_with_it(aws: Aws, tmp_path: Path, capsys) -> None:
    module = unique("shipenv")
    project = write_project(tmp_path / "p", {f"{module}.py": FLOWS})
    try:
        wf, _ = load(project, module, "mixed")
        opts = aws.options()
        # deployed without a bundle: the session's in-process worker imports the module from this process
        aws.deploy(wf.ir, opts)
        lines = [line for line in check_environment(aws.bucket, aws.s3) if wf.ir.digest[:19] in line]
        assert len(lines) == 1
        assert "tasks needy: this worker lacks attrs<1 (" in lines[0]
        assert "typedflow-no-such-package>=1 (not installed)" in lines[0]
        assert "this worker lacks" in capsys.readouterr().err
        args = argparse.Namespace(queue_url=aws.queue_url, bucket=aws.bucket, require_environment=True, concurrency=1)
        assert worker_command(args) == 2
        run = aws.run(wf.ir, {"x": 1}, opts)
        assert run.status == "FAILED"
        assert run.error == "typedflow.EnvironmentMismatch"
    finally:
        forget(module)
