"""Environments as images: `typedflow build` writes one build context per distinct environment (parsed
here by a Dockerfile parser, its package-install steps executed in a fresh environment), identical
environments share a tag, the engine and registry steps, and deploy registers container definitions
per image (Batch job definitions, Lambda functions) in moto."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from typedflow.backends.stepfunctions.compiler import compile_definition
from typedflow.backends.stepfunctions.deploy import deploy
from typedflow.backends.stepfunctions.executors import BUILT_COMMAND, resource_name
from typedflow.backends.stepfunctions.options import from_mapping

from tests.ship.projects import forget, load, unique, write_project
from tests.support.aws import ROLE, Aws
from typedflow.cli import main
from typedflow.shipping.image import ENTRYPOINT
from typedflow.shipping.plan import tag

FLOWS = """
from typedflow import Environment, task, workflow

RENDER = Environment(packages=["tomli-w>=1.0"], env={"TF_IMAGE_MARK": 'a "quoted" value'})


@task(environment=Environment(packages=["tomli-w>=1.0"], env={"TF_IMAGE_MARK": 'a "quoted" value'}))
def render(n: int) -> str:
    import tomli_w

    return tomli_w.dumps({"n": n})


@task(environment=RENDER)
def render_again(s: str) -> str:
    return s


@task
def plain(x: int) -> int:
    return x


@workflow(environment=Environment(packages=["six>=1.15"]))
def images(x: int) -> str:
    return render_again(s=render(n=plain(x=x)))
"""


@pytest.fixture()
def project(tmp_path: Path) -> Any:
    module = unique("shipimg")
    folder = write_project(tmp_path / "project", {f"{module}.py": FLOWS})
    yield folder, module
    forget(module)


def test_identical_environments_share_one_image(project: Any) -> None:
    folder, module = project
    _, shipped = load(folder, module, "images", registry="registry.example/ml")
    images = dict(shipped.plan.tasks)
    assert images["render"].tag == images["render_again"].tag  # declared twice, identical
    assert images["plain"].tag != images["render"].tag  # the workflow's environment
    assert images["render"].ref == f"registry.example/ml/typedflow-env:{images['render'].tag}"
    assert len(shipped.plan.images()) == 2
    assert tag(images["render"].env) == images["render"].tag
    assert images["render"].tag.endswith("-tf0.1.0")


def test_build_contexts_parse_and_their_install_steps_resolve(
    project: Any, tmp_path: Path, stock_python: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, module = project
    out = tmp_path / "contexts"
    rc = main(
        [
            "build",
            f"{folder / (module + '.py')}:images",
            "--target",
            "stepfunctions",
            "--registry",
            "registry.example/ml",
            "--context-dir",
            str(out),
            "--no-engine",
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    listed = [line.split("\t") for line in captured.out.splitlines()]
    assert len(listed) == 2 and all(ref.startswith("registry.example/ml/typedflow-env:") for ref, _ in listed)
    assert "no container engine can build here" in captured.err
    assert f"docker build -t {listed[0][0]} {listed[0][1]}" in captured.err
    for _, ctx_text in listed:
        ctx = Path(ctx_text)
        parser = DockerfileParser(path=str(ctx))
        steps = parser.structure
        assert parser.baseimage == "python:3.11-slim"
        users = [s["value"] for s in steps if s["instruction"] == "USER"]
        assert users and users[-1].split(":")[0] not in ("0", "root")  # runs as a non-root user
        (entry,) = [json.loads(s["value"]) for s in steps if s["instruction"] == "ENTRYPOINT"]
        assert entry == ENTRYPOINT
        copies = {}
        for s in steps:
            if s["instruction"] == "COPY":
                src, dest = s["value"].split()
                assert (ctx / src).is_file()
                copies[dest] = ctx / src
        if "tomli-w" in (ctx / "requirements.txt").read_text():
            assert parser.envs["TF_IMAGE_MARK"] == 'a "quoted" value'
        # the package-install steps, in a fresh environment, with the context's files where COPY puts them
        for s in steps:
            if s["instruction"] != "RUN":
                continue
            argv = json.loads(s["value"])  # exec form: nothing goes through a shell
            if argv[:4] != ["python", "-m", "pip", "install"]:
                assert argv[0] == "useradd"
                continue
            local = [str(copies.get(a, a)) for a in argv[1:]]
            done = subprocess.run([str(stock_python), *local], capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
    # what the images hold: the environments' packages, typedflow and its runtime (the entry point)
    check = subprocess.run(
        [str(stock_python), "-c", "import tomli_w, six, boto3, typedflow"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    usage = subprocess.run([str(stock_python), *ENTRYPOINT[1:], "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "stepfunctions" in usage.stdout


def test_build_runs_the_engine_and_pushes_to_ecr(
    aws: Aws, project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    folder, module = project
    stub = tmp_path / "bin"
    stub.mkdir()
    log = tmp_path / "engine.log"
    # a stand-in for the docker client: records each call and what came on stdin
    (stub / "docker").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nif [ "$1" = login ]; then cat >> {log}; echo >> {log}; fi\n'
    )
    (stub / "docker").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{stub}{os.pathsep}{os.environ['PATH']}")
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    rc = main(
        [
            "build",
            f"{folder / (module + '.py')}:images",
            "--target",
            "stepfunctions",
            "--registry",
            registry,
            "--context-dir",
            str(tmp_path / "ctx"),
            "--push",
        ]
    )
    assert rc == 0
    calls = log.read_text().splitlines()
    assert calls[0] == "info"
    builds = [c for c in calls if c.startswith("build -t ")]
    pushes = [c for c in calls if c.startswith("push ")]
    logins = [i for i, c in enumerate(calls) if c.startswith("login ")]
    assert len(builds) == 2 and len(pushes) == 2 and len(logins) == 2
    assert calls[logins[0]] == f"login --username AWS --password-stdin {registry}"
    password = calls[logins[0] + 1]
    assert password and password not in calls[logins[0]]  # the token came on stdin, never in argv
    assert all(p.startswith(f"push {registry}/typedflow-env:") for p in pushes)
    repos = boto3.client("ecr", region_name="us-east-1").describe_repositories()["repositories"]
    assert "typedflow-env" in {r["repositoryName"] for r in repos}


def test_deploy_registers_a_definition_per_image(aws: Aws, project: Any) -> None:
    import boto3

    folder, module = project
    wf, shipped = load(folder, module, "images", registry="123456789012.dkr.ecr.us-east-1.amazonaws.com")
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"lambda-{module}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch, lambda_ = boto3.client("batch"), boto3.client("lambda")
    opts = from_mapping(
        {
            "executor": "batch",
            "task_executor": ["render_again=lambda"],
            "batch_job_queue": "q",
            "bucket": aws.bucket,
            "lambda_role_arn": role,
            "shipment": shipped,
        }
    )
    definition = compile_definition(wf.ir, opts)
    images = dict(shipped.plan.tasks)
    text = json.dumps(definition)
    assert json.dumps(BUILT_COMMAND) in text  # built images: their entry point runs the runtime
    assert f'"JobDefinition": "{resource_name(images["render"])}"' in text
    assert f'"FunctionName": "{resource_name(images["render_again"])}"' in text
    d = deploy(
        wf.ir,
        opts,
        role_arn=ROLE,
        name=f"img-{module}",
        sfn=aws.sfn,
        s3=aws.s3,
        shipment=shipped,
        batch=batch,
        lambda_=lambda_,
    )
    jobs = {r for r in d.registered if ":job-definition/" in r}
    assert {j.split("/")[-1].split(":")[0] for j in jobs} == {
        resource_name(images["render"]),
        resource_name(images["plain"]),
    }
    fn = lambda_.get_function(FunctionName=resource_name(images["render_again"]))
    assert fn["Code"]["ImageUri"] == images["render_again"].ref + "-lambda"
    again = deploy(
        wf.ir,
        opts,
        role_arn=ROLE,
        name=f"img-{module}",
        sfn=aws.sfn,
        s3=aws.s3,
        shipment=shipped,
        batch=batch,
        lambda_=lambda_,
    )
    assert again.registered == ()  # the same images: nothing registered again


def test_env_values_cannot_expand_in_a_dockerfile() -> None:
    from typedflow.shipping.image import _env_line

    assert _env_line("A", 'x "$HOME" \\') == 'ENV A="x \\"\\$HOME\\" \\\\"'


def test_compile_says_when_containers_fall_back_to_the_bootstrap(
    project: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, module = project
    spec = f"{folder / (module + '.py')}:images"
    assert (
        main(
            [
                "compile",
                spec,
                "--target",
                "stepfunctions",
                "--executor",
                "ecs",
                "--ecs-cluster",
                "c",
                "--subnet",
                "s",
                "--bucket",
                "s3://b/p",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("typedflow compile: note: no built image for tasks") == 2
    assert "containers start from python:3.11-slim and install it when they start" in err
    assert (
        main(
            [
                "compile",
                spec,
                "--target",
                "stepfunctions",
                "--executor",
                "ecs",
                "--ecs-cluster",
                "c",
                "--subnet",
                "s",
                "--bucket",
                "s3://b/p",
                "--registry",
                "r.example/x",
            ]
        )
        == 0
    )
    assert "note:" not in capsys.readouterr().err
