"""Deploying what containers need: the code bundle and typedflow's wheel in the store, and one ECS task
definition / Batch job definition / Lambda function per environment image (a RunTask or SubmitJob
override cannot change the image, so each image has a definition of its own).

Definitions are registered only when they would change (the same image and roles keep the revision).
"""

from __future__ import annotations

from typing import Any

from typedflow.shipping.codestore import S3Code, publish, publish_wheel
from typedflow.shipping.plan import Image

from .executors import resource_name
from .options import OptionError, Options

FARGATE_CPU = "1024"  # the task definition's size; each RunTask overrides it with the task's resources
FARGATE_MEMORY = "2048"


def publish_code(shipment: Any, opts: Options, s3: Any) -> list[str]:
    """Upload the bundle (once: content-addressed) and, when a container starts from a stock image, the
    typedflow wheel; what was uploaded."""
    from .options import split_s3

    assert opts.bucket is not None
    bucket, prefix = split_s3(opts.bucket)
    store = S3Code(bucket, prefix, s3)
    done = []
    if shipment is not None and shipment.bundle is not None:
        key, uploaded = publish(shipment.bundle, store)
        if uploaded:
            done.append(key)
    if needs_wheel(opts):
        key, uploaded = publish_wheel(store)
        if uploaded:
            done.append(key)
    return done


def _container_tasks(opts: Options, kind: str) -> list[tuple[str, Image]]:
    return [(t, img) for t, img in opts.images if opts.executor_of(t) == kind]


def needs_wheel(opts: Options) -> bool:
    return any(
        not img.built
        and opts.executor_of(t) in ("ecs", "batch")
        and not (opts.ecs_task_definition if opts.executor_of(t) == "ecs" else opts.batch_job_definition)
        for t, img in opts.images
    )


def _distinct(pairs: list[tuple[str, Image]]) -> list[Image]:
    found = {img.tag: img for _, img in pairs}
    return [found[t] for t in sorted(found)]


def register_ecs(opts: Options, ecs: Any) -> list[str]:
    """A task definition (family ``typedflow-<tag>``) for each image of an ECS task; the ARNs registered."""
    if opts.ecs_task_definition:
        return []
    out = []
    for img in _distinct(_container_tasks(opts, "ecs")):
        family = resource_name(img)
        # a soft memory reservation: the task's memory (overridden per RunTask) is the limit
        container = {"name": opts.ecs_container, "image": img.ref, "essential": True, "memoryReservation": 128}
        spec: dict[str, Any] = {
            "family": family,
            "containerDefinitions": [container],
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": FARGATE_CPU,
            "memory": FARGATE_MEMORY,
        }
        if opts.ecs_execution_role_arn:
            spec["executionRoleArn"] = opts.ecs_execution_role_arn
        if opts.ecs_task_role_arn:
            spec["taskRoleArn"] = opts.ecs_task_role_arn
        if _same_ecs(ecs, family, spec):
            continue
        out.append(str(ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]))
    return out


def _same_ecs(ecs: Any, family: str, spec: dict[str, Any]) -> bool:
    try:
        current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    except Exception:
        return False
    containers = current.get("containerDefinitions") or [{}]
    return bool(
        current.get("status", "ACTIVE") == "ACTIVE"
        and containers[0].get("image") == spec["containerDefinitions"][0]["image"]
        and containers[0].get("name") == spec["containerDefinitions"][0]["name"]
        and current.get("executionRoleArn") == spec.get("executionRoleArn")
        and current.get("taskRoleArn") == spec.get("taskRoleArn")
    )


def register_batch(opts: Options, batch: Any) -> list[str]:
    """A job definition (``typedflow-<tag>``) for each image of a Batch task; the ARNs registered."""
    if opts.batch_job_definition:
        return []
    out = []
    for img in _distinct(_container_tasks(opts, "batch")):
        name = resource_name(img)
        props: dict[str, Any] = {
            "image": img.ref,
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": FARGATE_MEMORY}],
        }
        if opts.batch_job_role_arn:
            props["jobRoleArn"] = opts.batch_job_role_arn
        current = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE").get("jobDefinitions", [])
        latest = max(current, key=lambda d: d.get("revision", 0), default=None)
        if (
            latest is not None
            and latest.get("containerProperties", {}).get("image") == img.ref
            and (latest.get("containerProperties", {}).get("jobRoleArn") == props.get("jobRoleArn"))
        ):
            continue
        resp = batch.register_job_definition(jobDefinitionName=name, type="container", containerProperties=props)
        out.append(str(resp["jobDefinitionArn"]))
    return out


def ensure_lambdas(opts: Options, lambda_: Any) -> list[str]:
    """A function (``typedflow-<tag>``) per built Lambda image, created or pointed at its image."""
    if opts.lambda_function:
        return []
    out = []
    for img in _distinct(_container_tasks(opts, "lambda")):
        if not img.built:
            continue
        if not opts.lambda_role_arn:
            raise OptionError("deploying per-environment Lambda functions needs --lambda-role-arn")
        name, uri = resource_name(img), img.ref + "-lambda"
        env = {"Variables": {"TYPEDFLOW_BUCKET": opts.bucket or "", **dict(img.env.env)}}
        try:
            current = lambda_.get_function(FunctionName=name)
        except lambda_.exceptions.ResourceNotFoundException:
            lambda_.create_function(
                FunctionName=name,
                PackageType="Image",
                Code={"ImageUri": uri},
                Role=opts.lambda_role_arn,
                Timeout=900,
                MemorySize=int(FARGATE_MEMORY),
                Environment=env,
            )
            out.append(name)
            continue
        if current.get("Code", {}).get("ImageUri") != uri:
            lambda_.update_function_code(FunctionName=name, ImageUri=uri)
            out.append(name)
    return out


__all__ = ["ensure_lambdas", "needs_wheel", "publish_code", "register_batch", "register_ecs"]
