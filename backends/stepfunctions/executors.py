"""Executors: how one task node becomes Task state(s). Each maps the task's ResourceSpec onto its
service; all of them run ``python -m typedflow.runtime stepfunctions …`` (never a pickled closure)."""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from typedflow import ir
from typedflow.shipping.bootstrap import command as bootstrap_command
from typedflow.shipping.plan import Image

from .graph import DefinitionError, Fragment, Graph, connect
from .mapio import is_map_request
from .options import Options, split_s3
from .paths import Path
from .protocol import NODE_ENV, REQUEST_KEY, TOKEN_KEY
from .states import ALL_ERRORS, Retrier
from .states.pass_ import PassState
from .states.task import TaskState

COMMAND = ["python", "-m", "typedflow.runtime", "stepfunctions", "run-task"]
SQS_RESOURCE = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
ECS_RESOURCE = "arn:aws:states:::ecs:runTask.waitForTaskToken"
BATCH_RESOURCE = "arn:aws:states:::batch:submitJob.sync"
LAMBDA_RESOURCE = "arn:aws:states:::lambda:invoke"
S3_GET_RESOURCE = "arn:aws:states:::aws-sdk:s3:getObject"
REQUEST_SLOT = "req"  # where ecs/batch requests are staged (overwritten by each task)
_TIMEOUT_ERRORS = ("States.Timeout", "States.HeartbeatTimeout")


@attrs.frozen
class Call:
    """One task node, ready to be emitted."""

    name: str  # state name
    template: ir.TaskTemplate
    request: dict[str, Any]  # Parameters-ready request (see protocol)
    result_key: str  # state-data key of the node's outputs
    job_key: Any  # Parameters value: the node key at run time ("map[3]/train")


def error_name(qualified: str) -> str:
    """``module:Qualname`` → the error name the runtime reports (``module.Qualname``)."""
    return qualified.replace(":", ".").removeprefix("builtins.")


def retriers(policy: ir.RetryPolicy) -> list[Retrier]:
    """typedflow counts total attempts; ASL's MaxAttempts counts retries."""
    if policy.attempts <= 1:
        return []
    names = [error_name(e) for e in policy.on]
    if any(n in ("TimeoutError", "OSError", "Exception", "BaseException") for n in names):
        names += _TIMEOUT_ERRORS  # a task timeout surfaces as a States error, not as TimeoutError
    errors = tuple(sorted(set(names))) or (ALL_ERRORS,)
    interval = max(1, math.ceil(policy.initial_delay))
    return [
        Retrier(
            errors,
            interval,
            policy.attempts - 1,
            max(1.0, policy.backoff),
            max(interval, math.ceil(policy.max_delay)),
            policy.jitter,
        )
    ]


def _timeouts(template: ir.TaskTemplate, heartbeat: int | None, start: int = 0) -> tuple[int | None, int | None]:
    """TimeoutSeconds and HeartbeatSeconds; ``start``: seconds the task may take to start running before it can
    heartbeat (an ECS container's), counted by both from the state's entry."""
    timeout = math.ceil(template.timeout) + start if template.timeout else None
    heartbeat = heartbeat + start if heartbeat is not None else None
    if heartbeat is not None and timeout is not None and heartbeat >= timeout:
        heartbeat = None  # ASL requires HeartbeatSeconds < TimeoutSeconds
    return timeout, heartbeat


def _need(value: str | None, flag: str, kind: str, task: str) -> str:
    if not value:
        raise DefinitionError([f"task {task!r} uses the {kind} executor, which needs {flag}"])
    return value


_QUANTITY = re.compile(r"^([0-9.]+)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_FACTOR = {
    None: 1 / 2**20,
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024**2,
    "K": 1e3 / 2**20,
    "M": 1e6 / 2**20,
    "G": 1e9 / 2**20,
    "T": 1e12 / 2**20,
}


def mebibytes(quantity: str) -> int:
    """A Kubernetes quantity ("4Gi", "512Mi", "2G") in MiB, rounded up."""
    m = _QUANTITY.match(quantity.strip())
    if not m:
        raise DefinitionError([f"memory {quantity!r}: expected a quantity such as 512Mi or 4Gi"])
    return max(1, math.ceil(float(m.group(1)) * _FACTOR[m.group(2)]))


_HEARTBEATING = ("sqs", "ecs")


def route(request: dict[str, Any], job_key: Any, kind: str, opts: Options) -> dict[str, Any]:
    """``request`` (a task's or a map step's) with what every request to a runtime carries: its node key (a
    JSONPath inside a map), the retry count where the executor hands it over, the heartbeat where the runtime
    heartbeats, and the store."""
    if isinstance(job_key, Path):
        request["node.$"] = str(job_key)
    else:
        request["node"] = job_key
    if kind in ("sqs", "lambda"):
        request["retry.$"] = "$$.State.RetryCount"
    if kind in _HEARTBEATING:
        request["heartbeat"] = opts.heartbeat_seconds
    if opts.bucket:
        request["store"] = opts.bucket
    return request


def emit(call: Call, kind: str, opts: Options, graph: Graph) -> tuple[Fragment, str, list[TaskState]]:
    """States for ``call``: (fragment, JSONPath of the outputs object, the states that can fail)."""
    if opts.code:  # every request names the code it needs: a constant of the definition, never state data
        call = attrs.evolve(call, request={**call.request, "code": opts.code})
    if kind == "sqs":
        return _sqs(call, opts, graph)
    if kind == "lambda":
        return _lambda(call, opts, graph)
    if kind == "ecs":
        return _ecs(call, opts, graph)
    return _batch(call, opts, graph)


def _task(
    call: Call, name: str, resource: str, params: dict[str, Any], heartbeat: int | None, start: int = 0
) -> TaskState:
    timeout, heartbeat = _timeouts(call.template, heartbeat, start)
    return TaskState(
        name,
        resource=resource,
        parameters=params,
        result_path="$." + call.result_key,
        timeout_seconds=timeout,
        heartbeat_seconds=heartbeat,
        retry=retriers(call.template.retry),
        comment=f"task {call.template.name}",
    )


# Without --queue-url: the queue "typedflow-tasks" in the state machine's own region and account
_ARN_PART = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Id, ':'), {})"
DEFAULT_QUEUE = "typedflow-tasks"
DEFAULT_QUEUE_URL = (
    f"States.Format('https://sqs.{{}}.amazonaws.com/{{}}/{DEFAULT_QUEUE}', "
    f"{_ARN_PART.format(3)}, {_ARN_PART.format(4)})"
)


def _sqs(call: Call, opts: Options, graph: Graph) -> tuple[Fragment, str, list[TaskState]]:
    body = {f"{TOKEN_KEY}.$": "$$.Task.Token", REQUEST_KEY: call.request}
    params: dict[str, Any] = {"MessageBody": body}
    if opts.queue_url:
        params["QueueUrl"] = opts.queue_url
    else:
        params["QueueUrl.$"] = DEFAULT_QUEUE_URL
    state = _task(call, call.name, SQS_RESOURCE, params, opts.heartbeat_seconds)
    return graph.add(state), "$." + call.result_key, [state]


RUNTIME = ["-m", "typedflow.runtime", "stepfunctions", "run-task"]
BUILT_COMMAND = ["stepfunctions", "run-task"]  # typedflow images' entry point is python -m typedflow.runtime


def resource_name(image: Image) -> str:
    """The task definition family, job definition or function of an environment's image."""
    return "typedflow-" + re.sub(r"[^A-Za-z0-9_-]", "_", image.tag)


def container_command(call: Call, opts: Options, explicit: bool) -> list[str]:
    """What a container runs: the runtime in a typedflow image (or a definition the user gave), else the
    bootstrap on the stock image, which installs the environment and typedflow first."""
    image = opts.image_of(call.template.name)
    if explicit or image is None:
        return COMMAND
    if image.built:
        return BUILT_COMMAND
    if opts.wheel is None or not opts.bucket:
        raise DefinitionError(
            [f"task {call.template.name!r}: a stock container needs --bucket (its bootstrap reads typedflow there)"]
        )
    key, sha = opts.wheel
    return bootstrap_command("python", opts.bucket, key, sha, image.env.packages, RUNTIME)


def _env_vars(call: Call, opts: Options) -> list[dict[str, Any]]:
    image = opts.image_of(call.template.name)
    return [{"Name": k, "Value": v} for k, v in (image.env.env if image is not None else ())]


def _definition(call: Call, given: str | None, flag: str, kind: str, opts: Options) -> str:
    """The ECS task definition / Batch job definition of a task: the one given, else its image's."""
    if given:
        return given
    image = opts.image_of(call.template.name)
    if image is None:
        raise DefinitionError([f"task {call.template.name!r} uses the {kind} executor, which needs {flag}"])
    return resource_name(image)


def _lambda(call: Call, opts: Options, graph: Graph) -> tuple[Fragment, str, list[TaskState]]:
    image = opts.image_of(call.template.name)
    if opts.lambda_function or image is None or not image.built:
        fn = _need(
            opts.lambda_function,
            "--lambda-function (or --registry with built Lambda images)",
            "lambda",
            call.template.name,
        )
    else:
        fn = resource_name(image)
    state = _task(call, call.name, LAMBDA_RESOURCE, {"FunctionName": fn, "Payload": {REQUEST_KEY: call.request}}, None)
    state.result_selector = {"o.$": "$.Payload"}
    # Lambda's own transient errors are retried as AWS recommends, before the task's policy
    transient = Retrier(
        (
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ),
        1,
        3,
        2.0,
    )
    state.retry = [transient, *state.retry]
    return graph.add(state), f"$.{call.result_key}.o", [state]


def _stage(call: Call, graph: Graph, extra: dict[str, Any] | None = None) -> tuple[Fragment, str]:
    """A Pass that stages the request (container overrides can only take strings)."""
    params = {"request": call.request, **(extra or {})}
    stage = PassState(graph.name(f"{call.name} (request)"), parameters=params, result_path="$." + REQUEST_SLOT)
    return graph.add(stage), "$." + REQUEST_SLOT


def _env(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.startswith("States."):
        return {"Name": name, "Value.$": value}
    return {"Name": name, "Value": value}


def _node_env(job_key: Any) -> dict[str, Any]:
    """The task node's key, in the entry a failed job's description is read for (see :mod:`.failures`); a
    Distributed Map's own steps keep no Failure of their node, so they have none."""
    if isinstance(job_key, Path):
        return {"Name": NODE_ENV, "Value.$": str(job_key)}
    return {"Name": NODE_ENV, "Value": str(job_key)}


def _store_env(opts: Options) -> list[dict[str, Any]]:
    """The container's store and lineage signing, fixed by the definition (the request's own ``store`` is
    only checked against it: state data, which execution input shapes, never chooses where a task writes)."""
    pairs = (
        ("TYPEDFLOW_BUCKET", opts.bucket),
        ("TYPEDFLOW_LINEAGE_KEY", opts.lineage_key),
        ("TYPEDFLOW_LINEAGE_ANCHOR", opts.lineage_anchor),
    )
    return [{"Name": name, "Value": value} for name, value in pairs if value]


def _ecs(call: Call, opts: Options, graph: Graph) -> tuple[Fragment, str, list[TaskState]]:
    name = call.template.name
    cluster = _need(opts.ecs_cluster, "--ecs-cluster", "ecs", name)
    task_def = _definition(call, opts.ecs_task_definition, "--ecs-task-definition", "ecs", opts)
    if not opts.subnets:
        raise DefinitionError([f"task {name!r} uses the ecs executor, which needs --subnet (Fargate awsvpc)"])
    stage, req = _stage(call, graph)
    res = call.template.resources
    container: dict[str, Any] = {
        "Name": opts.ecs_container,
        "Command": container_command(call, opts, bool(opts.ecs_task_definition)),
        "Environment": [
            {"Name": "TYPEDFLOW_TASK_TOKEN", "Value.$": "$$.Task.Token"},
            _env("TYPEDFLOW_REQUEST", f"States.JsonToString({req}.request)"),
            _env("TYPEDFLOW_ATTEMPT", "States.Format('{}', $$.State.RetryCount)"),
            *_store_env(opts),
            *_env_vars(call, opts),
        ],
    }
    if res.gpu:
        container["ResourceRequirements"] = [{"Type": "GPU", "Value": str(res.gpu)}]
    overrides: dict[str, Any] = {"ContainerOverrides": [container]}
    if res.cpu is not None:
        overrides["Cpu"] = str(max(256, int(res.cpu * 1024)))
    if res.memory is not None:
        overrides["Memory"] = str(mebibytes(res.memory))
    if res.ephemeral_storage is not None:
        overrides["EphemeralStorage"] = {"SizeInGiB": max(21, math.ceil(mebibytes(res.ephemeral_storage) / 1024))}
    vpc: dict[str, Any] = {
        "Subnets": list(opts.subnets),
        "AssignPublicIp": "ENABLED" if opts.assign_public_ip else "DISABLED",
    }
    if opts.security_groups:
        vpc["SecurityGroups"] = list(opts.security_groups)
    params = {
        "LaunchType": "FARGATE",
        "Cluster": cluster,
        "TaskDefinition": task_def,
        "NetworkConfiguration": {"AwsvpcConfiguration": vpc},
        "Overrides": overrides,
    }
    state = _task(call, call.name, ECS_RESOURCE, params, opts.heartbeat_seconds, opts.ecs_start_seconds)
    return connect(stage, graph.add(state)), "$." + call.result_key, [state]


def _batch(call: Call, opts: Options, graph: Graph) -> tuple[Fragment, str, list[TaskState]]:
    name = call.template.name
    queue = _need(opts.batch_job_queue, "--batch-job-queue", "batch", name)
    job_def = _definition(call, opts.batch_job_definition, "--batch-job-definition", "batch", opts)
    bucket_uri = _need(opts.bucket, "--bucket", "batch", name)
    bucket, prefix = split_s3(bucket_uri)
    key_prefix = f"{prefix}/results" if prefix else "results"
    # the job writes its outputs here; a following step reads them back into the state
    key = f"States.Format('{key_prefix}/{{}}/{{}}.json', $$.Execution.Name, {_format_arg(call.job_key)})"
    stage, req = _stage(call, graph, {"key.$": key})
    res = call.template.resources
    requirements = [{"Type": "VCPU", "Value": _num(res.cpu if res.cpu is not None else 1.0)}]
    if res.memory is not None:
        requirements.append({"Type": "MEMORY", "Value": str(mebibytes(res.memory))})
    if res.gpu:
        requirements.append({"Type": "GPU", "Value": str(res.gpu)})
    params: dict[str, Any] = {
        "JobName": re.sub(r"[^A-Za-z0-9_-]", "-", name)[:128],
        "JobQueue": queue,
        "JobDefinition": job_def,
        "ContainerOverrides": {
            "Command": container_command(call, opts, bool(opts.batch_job_definition)),
            "Environment": [
                # first, and small: a failed job's description (the cause its Catch gets) names the node by it
                *([] if is_map_request(call.request) else [_node_env(call.job_key)]),
                _env("TYPEDFLOW_REQUEST", f"States.JsonToString({req}.request)"),
                _env("TYPEDFLOW_RESULT_URI", f"States.Format('s3://{bucket}/{{}}', {req}.key)"),
                _env("TYPEDFLOW_ATTEMPT", "States.Format('{}', $$.State.RetryCount)"),
                *_store_env(opts),
                *_env_vars(call, opts),
            ],
            "ResourceRequirements": requirements,
        },
    }
    timeout, _ = _timeouts(call.template, None)
    if timeout is not None:
        params["Timeout"] = {"AttemptDurationSeconds": max(60, timeout)}
    job = _task(call, call.name, BATCH_RESOURCE, params, None)
    job.result_path = None  # the job description is not needed
    job.timeout_seconds = None
    read = TaskState(
        graph.name(f"{call.name} (outputs)"),
        resource=S3_GET_RESOURCE,
        parameters={"Bucket": bucket, "Key.$": f"{req}.key"},
        result_selector={"o.$": "States.StringToJson($.Body)"},
        result_path="$." + call.result_key,
    )
    frag = connect(connect(stage, graph.add(job)), graph.add(read))
    return frag, f"$.{call.result_key}.o", [job, read]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _format_arg(job_key: Any) -> str:
    if isinstance(job_key, Path):
        return str(job_key)
    return "'" + str(job_key).replace("'", "\\'") + "'"
