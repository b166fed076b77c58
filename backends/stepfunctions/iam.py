"""Least-privilege IAM policies: for the state machine's role and for the SQS worker."""

from __future__ import annotations

import re
from typing import Any

from .options import Options, split_s3


def _queue_arn(url: str) -> str:
    # https://sqs.<region>.amazonaws.com/<account>/<name>
    parts = url.rstrip("/").split("/")
    host = parts[2] if len(parts) > 2 else ""
    region = host.split(".")[1] if host.startswith("sqs.") else "*"
    return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}" if len(parts) >= 2 else "*"


# Without --queue-url the state machine sends to the queue of this name in its own region and account.
_DEFAULT_QUEUE_ARN = "arn:aws:sqs:*:*:typedflow-tasks"


def _queue(opts: Options) -> str:
    return _queue_arn(opts.queue_url) if opts.queue_url else _DEFAULT_QUEUE_ARN


def _bucket_arns(uri: str | None, suffix: str = "/*") -> list[str]:
    if not uri:
        return []
    bucket, prefix = split_s3(uri)
    return [f"arn:aws:s3:::{bucket}/{prefix}{'/' if prefix else ''}{suffix.lstrip('/')}"]


def state_machine_policy(
    opts: Options, executors: list[str], children: tuple[str, ...] = (), distributed: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What the state machine's execution role needs for the executors it uses, to start and follow the
    child state machines (by name) a large workflow is split into, and to run the child executions of the
    Distributed Maps in the state machines named in ``distributed``; every one of them runs as this role."""
    stmts: list[dict[str, Any]] = []
    if distributed:
        stmts.append(
            {
                "Sid": "DistributedMapRuns",
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": [f"arn:aws:states:*:*:stateMachine:{m}" for m in distributed],
            }
        )
        stmts.append(
            {
                "Sid": "DistributedMapChildren",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Resource": [f"arn:aws:states:*:*:execution:{m}/*" for m in distributed],
            }
        )
        # ItemReader reads the items a worker step wrote (values/), ResultWriter writes the map runs' results
        # under maps/ (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html)
        stmts.append(
            {
                "Sid": "DistributedMapItems",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": _bucket_arns(opts.bucket, "values/*") or ["*"],
            }
        )
        stmts.append(
            {
                "Sid": "DistributedMapResults",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
                "Resource": _bucket_arns(opts.bucket, "maps/*") or ["*"],
            }
        )
    if children:
        stmts.append(
            {
                "Sid": "StartChildren",
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": [f"arn:aws:states:*:*:stateMachine:{c}" for c in children],
            }
        )
        stmts.append(
            {
                "Sid": "FollowChildren",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Resource": [f"arn:aws:states:*:*:execution:{c}:*" for c in children],
            }
        )
        stmts.append(
            {
                "Sid": "SyncChildren",
                "Effect": "Allow",
                "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                "Resource": ["arn:aws:events:*:*:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"],
            }
        )
    if "sqs" in executors:
        stmts.append(
            {"Sid": "SendTaskRequests", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [_queue(opts)]}
        )
    if "lambda" in executors and opts.lambda_function:
        fn = opts.lambda_function
        arn = fn if fn.startswith("arn:") else f"arn:aws:lambda:*:*:function:{fn}"
        stmts.append(
            {
                "Sid": "InvokeTasks",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [arn, arn + ":*"],
            }
        )
    if "ecs" in executors:
        stmts.append(
            {
                "Sid": "RunTasks",
                "Effect": "Allow",
                "Action": ["ecs:RunTask"],
                "Resource": [opts.ecs_task_definition or "*"],
            }
        )
        stmts.append(
            {"Sid": "StopTasks", "Effect": "Allow", "Action": ["ecs:StopTask", "ecs:DescribeTasks"], "Resource": ["*"]}
        )
        stmts.append(
            {
                "Sid": "PassTaskRoles",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": ["*"],
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            }
        )
    if "batch" in executors:
        stmts.append(
            {
                "Sid": "SubmitJobs",
                "Effect": "Allow",
                "Action": ["batch:SubmitJob", "batch:DescribeJobs", "batch:TerminateJob"],
                "Resource": [r for r in (opts.batch_job_queue, opts.batch_job_definition) if r] or ["*"],
            }
        )
        stmts.append(
            {
                "Sid": "SyncBatchJobs",
                "Effect": "Allow",
                "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                "Resource": ["arn:aws:events:*:*:rule/StepFunctionsGetEventsForBatchJobsRule"],
            }
        )
        stmts.append(
            {
                "Sid": "ReadJobOutputs",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": _bucket_arns(opts.bucket, "results/*") or ["*"],
            }
        )
    return {"Version": "2012-10-17", "Statement": stmts}


def secret_arns(refs: list[str]) -> list[str]:
    """The ARNs an ``aws-sm:`` reference may name: a full ARN as it is, a name (or an ARN without AWS's
    six-character suffix) with that suffix left open."""
    out = set()
    for ref in refs:
        sid = ref.partition("#")[0]
        if sid.startswith("arn:"):
            out.add(sid if re.search(r"-[A-Za-z0-9]{6}$", sid) else sid + "-??????")
        else:
            out.add(f"arn:aws:secretsmanager:*:*:secret:{sid}-??????")
    return sorted(out)


def worker_policy(opts: Options, executors: list[str], secrets: list[str] | None = None) -> dict[str, Any]:
    """What the worker (or task container) needs: callbacks, the artifact prefix, when tasks go through
    SQS the queue the state machine sends them to, and read access to exactly the AWS Secrets Manager
    secrets the tasks declare (``secrets``: the references after ``aws-sm:``)."""
    stmts: list[dict[str, Any]] = [
        {
            "Sid": "TaskCallbacks",
            "Effect": "Allow",
            "Action": ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            "Resource": ["*"],
        },
    ]
    if "sqs" in executors:
        stmts.append(
            {
                "Sid": "ReceiveTaskRequests",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": [_queue(opts)],
            }
        )
    if opts.bucket:
        bucket, _ = split_s3(opts.bucket)
        stmts.append(
            {
                "Sid": "Artifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": _bucket_arns(opts.bucket),
            }
        )
        stmts.append(
            {
                "Sid": "ListArtifacts",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            }
        )
    if opts.lineage_key and opts.lineage_key.startswith("awskms:"):
        key = opts.lineage_key.removeprefix("awskms:")
        stmts.append(
            {
                "Sid": "SignLineage",
                "Effect": "Allow",
                "Action": ["kms:Sign", "kms:GetPublicKey"],
                "Resource": [key if key.startswith("arn:") else "*"],
            }
        )
    if secrets:
        stmts.append(
            {
                "Sid": "TaskSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": secret_arns(secrets),
            }
        )
    if opts.lineage_anchor:
        stmts.append(
            {
                "Sid": "AnchorLineage",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],  # never delete: the bucket's Object Lock keeps what is written
                "Resource": _bucket_arns(opts.lineage_anchor, "lineage/*"),
            }
        )
    return {"Version": "2012-10-17", "Statement": stmts}


def deployer_policy(name: str, role_arn: str, scheduled: bool) -> dict[str, Any]:
    """What ``typedflow deploy`` itself needs."""
    stmts: list[dict[str, Any]] = [
        {
            "Sid": "StateMachine",
            "Effect": "Allow",
            "Action": [
                "states:CreateStateMachine",
                "states:UpdateStateMachine",
                "states:DescribeStateMachine",
                "states:ListStateMachines",
                "states:PublishStateMachineVersion",
                "states:StartExecution",
                "states:DescribeExecution",
            ],
            "Resource": ["*"],
        },
        {"Sid": "PassExecutionRole", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": [role_arn]},
        {
            # deploy tags what start and `typedflow runs` read back; runs lists, inspects, stops and redrives
            "Sid": "OperateRuns",
            "Effect": "Allow",
            "Action": [
                "states:TagResource",
                "states:ListTagsForResource",
                "states:ListExecutions",
                "states:GetExecutionHistory",
                "states:DescribeStateMachineForExecution",
                "states:StopExecution",
                "states:RedriveExecution",
            ],
            "Resource": ["*"],
        },
    ]
    if scheduled:
        stmts.append(
            {
                "Sid": "Schedule",
                "Effect": "Allow",
                "Action": ["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:GetSchedule"],
                "Resource": [f"arn:aws:scheduler:*:*:schedule/default/{name}"],
            }
        )
    return {"Version": "2012-10-17", "Statement": stmts}
