"""Target options: one frozen record, the argparse flags that fill it, and parsing from ``vars(args)``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import attrs

from typedflow.errors import InputError
from typedflow.shipping.plan import Image

from .protocol import DEFAULT_ECS_START_SECONDS, DEFAULT_HEARTBEAT_SECONDS, DEFAULT_OFFLOAD_THRESHOLD

EXECUTORS = ("sqs", "ecs", "batch", "lambda")
MIN_STATES = 16  # a child state machine needs a few states of its own besides the work


class OptionError(InputError, ValueError):
    """A target option is missing or malformed (the command line's usage error: exit 2, one line)."""


@attrs.frozen
class Options:
    executor: str = "sqs"
    task_executors: tuple[tuple[str, str], ...] = ()  # (task name, executor)
    queue_url: str | None = None
    bucket: str | None = None  # s3://bucket/prefix
    offload_threshold: int = DEFAULT_OFFLOAD_THRESHOLD
    heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS
    map_size: int = 100  # assumed items per map_over for the history estimate
    ecs_cluster: str | None = None
    ecs_task_definition: str | None = None
    ecs_container: str = "typedflow"
    ecs_start_seconds: int = DEFAULT_ECS_START_SECONDS  # added to an ECS task's heartbeat and timeout
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    batch_job_queue: str | None = None
    batch_job_definition: str | None = None
    lambda_function: str | None = None
    lineage_key: str | None = None  # awskms:<key> (or a key file in the workers' image) signing checkpoints
    lineage_anchor: str | None = None  # s3://bucket/prefix with Object Lock: write-once copies of checkpoints
    # What ships (see typedflow.shipping): the code bundle every request names, each task's image, and the
    # typedflow wheel (store key, sha256) that containers on a stock image install first.
    code: str | None = None
    images: tuple[tuple[str, Image], ...] = ()
    wheel: tuple[str, str] | None = None
    ecs_execution_role_arn: str | None = None
    ecs_task_role_arn: str | None = None
    batch_job_role_arn: str | None = None
    lambda_role_arn: str | None = None
    name: str | None = None  # the state machine's name (default: the workflow's); child machines add -1, -2 ...
    max_states: int | None = None  # split into child state machines of at most this many states each

    def executor_of(self, task: str) -> str:
        if not self.task_executors:  # (asked once per task state and more; usually no task has its own)
            return self.executor
        return dict(self.task_executors).get(task, self.executor)

    def image_of(self, task: str) -> Image | None:
        return dict(self.images).get(task)

    def executors(self, tasks: list[str]) -> list[str]:
        return sorted({self.executor_of(t) for t in tasks})


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stepfunctions target")
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="sqs",
        help="how tasks run: sqs (worker polls a queue, default), ecs (Fargate), batch, lambda",
    )
    g.add_argument(
        "--task-executor", action="append", default=[], metavar="TASK=KIND", help="executor of one task (repeatable)"
    )
    g.add_argument("--queue-url", metavar="URL", help="SQS queue the sqs executor sends task requests to")
    g.add_argument("--bucket", metavar="S3URI", help="s3://bucket/prefix for artifacts, offloaded values, lineage")
    g.add_argument(
        "--offload-threshold",
        type=int,
        default=DEFAULT_OFFLOAD_THRESHOLD,
        metavar="BYTES",
        help=f"values whose JSON is larger go to S3 (default {DEFAULT_OFFLOAD_THRESHOLD})",
    )
    g.add_argument(
        "--heartbeat-seconds",
        type=int,
        default=DEFAULT_HEARTBEAT_SECONDS,
        metavar="S",
        help="HeartbeatSeconds of sqs/ecs tasks (the worker beats 3x as often)",
    )
    g.add_argument(
        "--map-size",
        type=int,
        default=100,
        metavar="N",
        help="items assumed per map_over when estimating history events (default 100)",
    )
    g.add_argument(
        "--max-states",
        type=int,
        metavar="N",
        help="split into child state machines of at most N states each (default: only past the 1 MB definition "
        "or 25,000-event history limits)",
    )
    g.add_argument("--ecs-cluster", metavar="ARN")
    g.add_argument("--ecs-task-definition", metavar="ARN")
    g.add_argument("--ecs-container", default="typedflow", metavar="NAME")
    g.add_argument(
        "--ecs-start-seconds",
        type=int,
        default=DEFAULT_ECS_START_SECONDS,
        metavar="S",
        help="time an ECS task's container may take to start (placement, image pull, the stock image's install), "
        f"added to its HeartbeatSeconds and TimeoutSeconds (default {DEFAULT_ECS_START_SECONDS})",
    )
    g.add_argument("--subnet", action="append", default=[], metavar="ID")
    g.add_argument("--security-group", action="append", default=[], metavar="ID")
    g.add_argument("--assign-public-ip", action="store_true")
    g.add_argument("--batch-job-queue", metavar="ARN")
    g.add_argument("--batch-job-definition", metavar="ARN")
    g.add_argument("--lambda-function", metavar="NAME_OR_ARN")
    g.add_argument(
        "--lineage-key",
        metavar="SPEC",
        help="sign each task's lineage record: awskms:KEY_ID_OR_ARN (an ECC_NIST_P256 key) or a key file path",
    )
    g.add_argument(
        "--lineage-anchor",
        metavar="S3URI",
        help="also write each signed checkpoint to this bucket, which must have Object Lock with a default retention",
    )
    g.add_argument(
        "--ecs-execution-role-arn", metavar="ARN", help="deploy: the role ECS pulls images and writes logs with"
    )
    g.add_argument("--ecs-task-role-arn", metavar="ARN", help="deploy: the role ECS tasks run as")
    g.add_argument("--batch-job-role-arn", metavar="ARN", help="deploy: the role Batch jobs run as")
    g.add_argument("--lambda-role-arn", metavar="ARN", help="deploy: the role of the per-environment functions")


def _int_or(value: Any, default: int) -> int:
    return default if value is None else int(value)


def from_mapping(values: Mapping[str, Any]) -> Options:
    """Options from ``vars(args)`` (unknown keys are ignored: the CLI passes all its flags)."""
    pairs = []
    for item in values.get("task_executor") or []:
        name, sep, kind = str(item).partition("=")
        if not sep or kind not in EXECUTORS:
            raise OptionError(f"--task-executor {item!r}: expected TASK=KIND with KIND one of {', '.join(EXECUTORS)}")
        pairs.append((name, kind))
    executor = values.get("executor") or "sqs"
    if executor not in EXECUTORS:
        raise OptionError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    bucket = values.get("bucket")
    if bucket is not None and not str(bucket).startswith("s3://"):
        raise OptionError(f"--bucket {bucket!r}: expected s3://bucket[/prefix]")
    threshold = _int_or(values.get("offload_threshold"), DEFAULT_OFFLOAD_THRESHOLD)  # 0 is refused, not the default
    if not 0 < threshold <= 200_000:
        raise OptionError("--offload-threshold must be between 1 and 200000 bytes")
    anchor = values.get("lineage_anchor")
    if anchor is not None and not str(anchor).startswith("s3://"):
        raise OptionError(f"--lineage-anchor {anchor!r}: expected s3://bucket[/prefix]")
    heartbeat = _int_or(values.get("heartbeat_seconds"), DEFAULT_HEARTBEAT_SECONDS)
    if heartbeat < 1:
        raise OptionError("--heartbeat-seconds must be at least 1")
    ecs_start = values.get("ecs_start_seconds")
    ecs_start = DEFAULT_ECS_START_SECONDS if ecs_start is None else int(ecs_start)
    if not 0 <= ecs_start <= 86_400:
        raise OptionError("--ecs-start-seconds must be between 0 and 86400")
    max_states = values.get("max_states")
    if max_states is not None and int(max_states) < MIN_STATES:
        raise OptionError(f"--max-states must be at least {MIN_STATES}")
    shipped = _shipped(values.get("shipment"))
    return Options(
        **shipped,
        executor=executor,
        task_executors=tuple(sorted(pairs)),
        queue_url=values.get("queue_url"),
        bucket=bucket.rstrip("/") if bucket else None,
        offload_threshold=threshold,
        heartbeat_seconds=heartbeat,
        map_size=int(values.get("map_size") or 100),
        ecs_cluster=values.get("ecs_cluster"),
        ecs_task_definition=values.get("ecs_task_definition"),
        ecs_container=values.get("ecs_container") or "typedflow",
        ecs_start_seconds=ecs_start,
        subnets=tuple(values.get("subnet") or ()),
        security_groups=tuple(values.get("security_group") or ()),
        assign_public_ip=bool(values.get("assign_public_ip")),
        batch_job_queue=values.get("batch_job_queue"),
        batch_job_definition=values.get("batch_job_definition"),
        lambda_function=values.get("lambda_function"),
        lineage_key=values.get("lineage_key"),
        lineage_anchor=anchor.rstrip("/") if anchor else None,
        ecs_execution_role_arn=values.get("ecs_execution_role_arn"),
        ecs_task_role_arn=values.get("ecs_task_role_arn"),
        batch_job_role_arn=values.get("batch_job_role_arn"),
        lambda_role_arn=values.get("lambda_role_arn"),
        name=values.get("name"),
        max_states=int(max_states) if max_states is not None else None,
    )


def _shipped(shipment: Any) -> dict[str, Any]:
    """The Options fields a shipment (``typedflow.shipping.cli.Shipment``) fills."""
    if shipment is None:
        return {}
    from typedflow.shipping.codestore import wheel_key
    from typedflow.shipping.selfwheel import wheel

    name, _, sha = wheel()
    return {"code": shipment.plan.code, "images": shipment.plan.tasks, "wheel": (wheel_key(sha, name), sha)}


def split_s3(uri: str) -> tuple[str, str]:
    """("bucket", "prefix") of ``s3://bucket/prefix`` (prefix without slashes at the ends)."""
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")
