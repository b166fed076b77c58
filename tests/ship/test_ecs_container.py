"""The ECS executor executed for real: moto's Step Functions engine calls ecs:RunTask with the
overrides the definition holds; an adapter reads the RunTask request moto recorded (the container's
command and environment) and runs that command in a fresh virtual environment standing in for the
stock ``python:X.Y-slim`` image. The bootstrap installs the environment's packages and typedflow, the
runtime fetches the bundle, runs the task from it and answers the task token."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from typedflow.backends.stepfunctions.deploy import decode_outputs, deploy, start
from typedflow.backends.stepfunctions.options import from_mapping
from typedflow.backends.stepfunctions.runtime import store_for

from tests.ship.projects import forget, load, unique, write_project
from tests.support.aws import ROLE, Aws, process_env

FLOWS = """
from typedflow import Environment, task, workflow


@task
def parse(text: str) -> list[str]:
    import six  # only where the environment is installed

    return [six.ensure_str(w) for w in text.split()]


@task(environment=Environment(packages=["tomli-w>=1.0", "six>=1.15"]))
def render(words: list[str]) -> str:
    import tomli_w

    return tomli_w.dumps({"words": words, "n": len(words)})


@workflow(environment=Environment(packages=["six>=1.15"], env={"TF_SHIP_MARK": "stock"}))
def pipeline(text: str) -> str:
    return render(words=parse(text=text))
"""


def _run_containers(
    aws: Aws, ecs: Any, cluster: str, execution: str, python: Path, env: dict[str, str], cwd: Path
) -> list[dict[str, Any]]:
    """Play ECS: run each task moto recorded, as its overrides say, until the execution ends."""
    import time

    seen: set[str] = set()
    ran: list[dict[str, Any]] = []
    deadline = time.monotonic() + 240
    while aws.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        arns = [a for a in ecs.list_tasks(cluster=cluster)["taskArns"] if a not in seen]
        if not arns:
            time.sleep(0.1)
            continue
        for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]:
            seen.add(task["taskArn"])
            (container,) = task["overrides"]["containerOverrides"]
            command = container["command"]
            variables = {e["name"]: e["value"] for e in container["environment"]}
            image = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            ran.append({"command": command, "env": variables, "definition": image})
            assert command[0] == "python"  # the stock image's interpreter; here, the fresh venv's
            done = subprocess.run(
                [str(python), *command[1:]],
                env={**env, **variables},
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr[-4000:]
    return ran


def test_ecs_tasks_run_from_the_stock_image_and_the_bundle(
    aws: Aws, moto_endpoint: str, stock_python: Path, tmp_path: Path
) -> None:
    import boto3

    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    cluster = ecs.create_cluster(clusterName=f"tf-{uuid.uuid4().hex[:8]}")["cluster"]["clusterArn"]
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as Fargate needs
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"tf-{uuid.uuid4().hex[:8]}", Description="tasks", VpcId=vpc)["GroupId"]
    module = unique("shipecs")
    project = write_project(tmp_path / "project", {f"{module}.py": FLOWS})
    try:
        wf, shipped = load(project, module, "pipeline")
        opts = from_mapping(
            {
                "executor": "ecs",
                "ecs_cluster": cluster,
                "subnet": [subnet],
                "security_group": [group],
                "bucket": aws.bucket,
                "shipment": shipped,
            }
        )
        d = deploy(wf.ir, opts, role_arn=ROLE, name=f"ecs-{module}", sfn=aws.sfn, s3=aws.s3, shipment=shipped, ecs=ecs)
        families = sorted(a.split("/")[-1].split(":")[0] for a in d.registered if ":task-definition/" in a)
        assert len(families) == 2  # one task definition per environment image
        ex = start(
            wf.ir,
            opts,
            {"text": "ship the code"},
            machine_arn=d.arn,
            sfn=aws.sfn,
            s3=aws.s3,
            execution_name=f"e-{uuid.uuid4().hex[:8]}",
        )
        cwd = tmp_path / "container"
        cwd.mkdir()
        env = process_env(moto_endpoint, TYPEDFLOW_CODE_CACHE=str(tmp_path / "code-cache"))
        ran = _run_containers(aws, ecs, cluster, ex, stock_python, env, cwd)
        desc = aws.sfn.describe_execution(executionArn=ex)
        assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
        out = decode_outputs(wf.ir, desc.get("output"), store_for(aws.bucket, aws.s3))
        assert out == {"out": 'words = [\n    "ship",\n    "the",\n    "code",\n]\nn = 3\n'}
    finally:
        forget(module)
    assert len(ran) == 2
    for r in ran:
        definition = r["definition"]
        assert definition["containerDefinitions"][0]["image"] == "python:3.11-slim"
        assert r["env"]["TYPEDFLOW_BUCKET"] == aws.bucket
        assert "PYTHONPATH" not in r["env"]
    assert {r["definition"]["family"] for r in ran} == set(families)
    assert ran[0]["env"]["TF_SHIP_MARK"] == "stock"
    # the bootstrap installed what each environment needs, and typedflow
    listed = subprocess.run(
        [str(stock_python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert {"six", "tomli_w", "typedflow", "boto3"} <= {n.replace("-", "_") for n in names}
    assert not list(cwd.iterdir())
