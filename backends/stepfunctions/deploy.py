"""``typedflow deploy|start --target stepfunctions``: state machine, version, schedule, executions.

All AWS calls go through boto3's default session, so profiles, regions and ``AWS_ENDPOINT_URL``
apply as usual. boto3 is imported only when these commands run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.dsl.taskenv import store_refs
from typedflow.errors import InputError
from typedflow.ir.types import normal_form
from typedflow.util.boundary import BoundaryError

from .analysis import ELEMENTWISE, WHOLE, requirements, workflow_refs
from .compiler import compile_machines, machine_name
from .cron import to_aws
from .deployment import deployed, deployment_tags, read_tags
from .iam import deployer_policy, state_machine_policy, worker_policy
from .lazyjson import offload, resolve
from .limits import has_distributed_map
from .options import OptionError, Options, from_mapping, split_s3
from .runtime import failure_value, publish_ir, store_for
from .s3store import S3Store


def _clients(**given: Any) -> dict[str, Any]:
    import boto3

    make: Any = boto3.client  # typed per service name; these names are chosen below
    services = {"sfn": "stepfunctions", "s3": "s3", "scheduler": "scheduler", "ecs": "ecs", "batch": "batch"}
    services["lambda_"] = "lambda"
    return {k: v if v is not None else make(services[k]) for k, v in given.items()}


@attrs.frozen
class Deployment:
    arn: str
    version_arn: str | None
    created: bool
    updated: bool
    schedule_arn: str | None = None
    code: str | None = None  # the bundle the definition names
    registered: tuple[str, ...] = ()  # code uploaded, definitions and functions registered
    children: tuple[str, ...] = ()  # ARNs of the child state machines the workflow was split into


def _find(sfn: Any, name: str) -> str | None:
    token = None
    while True:
        page = sfn.list_state_machines(**({"nextToken": token} if token else {}))
        for sm in page.get("stateMachines", []):
            if sm["name"] == name:
                return str(sm["stateMachineArn"])
        token = page.get("nextToken")
        if not token:
            return None


def deploy(
    doc: ir.WorkflowIR,
    opts: Options,
    *,
    role_arn: str,
    name: str | None = None,
    sfn: Any = None,
    s3: Any = None,
    scheduler: Any = None,
    schedule_role_arn: str | None = None,
    shipment: Any = None,
    ecs: Any = None,
    batch: Any = None,
    lambda_: Any = None,
) -> Deployment:
    """Create or update the Standard state machine (idempotent), publish a version, upload the IR and the
    code bundle the workers need (``shipment``, see :mod:`typedflow.shipping.cli`), register a container
    definition per environment image and, for a scheduled workflow, create or update its schedule."""
    from .containers import ensure_lambdas, publish_code, register_batch, register_ecs

    if not opts.bucket:
        raise OptionError("deploy needs --bucket s3://bucket/prefix (the workers read the IR and artifacts there)")
    sm_name = machine_name(doc, name or opts.name)
    machines = compile_machines(doc, attrs.evolve(opts, name=sm_name))
    c = _clients(sfn=sfn, s3=s3)
    if opts.lineage_anchor:
        from typedflow.lineage.cloud import check_s3_anchor

        problem = check_s3_anchor(opts.lineage_anchor, client=c["s3"])
        if problem:
            raise OptionError(f"--lineage-anchor {problem}")
    publish_ir(store_for(opts.bucket, c["s3"]), doc)
    publish_constant_files(store_for(opts.bucket, c["s3"]), doc)
    registered = publish_code(shipment, opts, c["s3"])
    kinds = set(opts.executors([t.name for t in doc.tasks]))
    if opts.images and "ecs" in kinds and not opts.ecs_task_definition:
        registered += register_ecs(opts, _clients(ecs=ecs)["ecs"])
    if opts.images and "batch" in kinds and not opts.batch_job_definition:
        registered += register_batch(opts, _clients(batch=batch)["batch"])
    if opts.images and "lambda" in kinds and not opts.lambda_function:
        registered += ensure_lambdas(opts, _clients(lambda_=lambda_)["lambda_"])
    # Children first: a parent starts them by name, so they exist (in their new version) before it runs.
    results = [
        _put_machine(c["sfn"], machine, json.dumps(d, sort_keys=True, separators=(",", ":")), role_arn, doc.digest)
        for machine, d in reversed(machines)
    ]
    arn, version_arn, created, updated = results[-1]
    children = tuple(r[0] for r in results[:-1])[::-1]
    _tag(c["sfn"], str(arn), doc, opts.bucket)
    schedule_arn = None
    if doc.workflow.schedule:
        schedule_arn = ensure_schedule(doc, arn, schedule_role_arn or role_arn, sm_name, scheduler=scheduler)
    return Deployment(str(arn), version_arn, created, updated, schedule_arn, opts.code, tuple(registered), children)


def _put_machine(
    sfn: Any, name: str, definition: str, role_arn: str, digest: str
) -> tuple[str, str | None, bool, bool]:
    """Create or update one Standard state machine (publishing a version when it changes): (arn, version
    arn, created, updated)."""
    arn = _find(sfn, name)
    if arn is None:
        resp = sfn.create_state_machine(
            name=name, definition=definition, roleArn=role_arn, type="STANDARD", publish=True, versionDescription=digest
        )
        return str(resp["stateMachineArn"]), resp.get("stateMachineVersionArn"), True, False
    current = sfn.describe_state_machine(stateMachineArn=arn)
    if current.get("definition") == definition and current.get("roleArn") == role_arn:
        return arn, None, False, False
    resp = sfn.update_state_machine(
        stateMachineArn=arn, definition=definition, roleArn=role_arn, publish=True, versionDescription=digest
    )
    return arn, resp.get("stateMachineVersionArn"), False, True


def _tag(sfn: Any, arn: str, doc: ir.WorkflowIR, bucket: str) -> None:
    """What ``start`` and ``runs`` read back: the workflow, its store and IR (tags are not versioned; each
    execution's own definition still names its IR)."""

    tags = deployment_tags(doc, bucket)
    current = read_tags(sfn, arn)
    if any(current.get(t["key"]) != t["value"] for t in tags):
        sfn.tag_resource(resourceArn=arn, tags=tags)


def schedule_input(doc: ir.WorkflowIR) -> dict[str, Any]:
    missing = [p.name for p in doc.workflow.inputs if not p.has_default]
    if missing:
        raise OptionError(
            f"workflow {doc.workflow.name!r} has a schedule but inputs without defaults: " + ", ".join(missing)
        )
    return {p.name: p.default for p in doc.workflow.inputs}


def ensure_schedule(doc: ir.WorkflowIR, machine_arn: str, role_arn: str, name: str, *, scheduler: Any = None) -> str:
    assert doc.workflow.schedule is not None
    client = _clients(scheduler=scheduler)["scheduler"]
    spec = {
        "Name": name,
        "ScheduleExpression": to_aws(doc.workflow.schedule),
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": machine_arn, "RoleArn": role_arn, "Input": json.dumps(schedule_input(doc))},
        "Description": f"typedflow workflow {doc.workflow.name}",
    }
    try:
        client.get_schedule(Name=name)
    except Exception as exc:
        if "ResourceNotFound" not in type(exc).__name__ and "ResourceNotFound" not in str(exc):
            raise
        return str(client.create_schedule(**spec)["ScheduleArn"])
    return str(client.update_schedule(**spec)["ScheduleArn"])


def publish_constant_files(store: S3Store, doc: ir.WorkflowIR) -> None:
    """Upload each file or directory the workflow body writes as a constant where the definition says
    it is (by its content); :class:`InputError` when one is missing or changed since it was defined."""
    from typedflow.runtime.inputs import find_constant, map_constant_files

    def upload(v: dict[str, Any], t: ir.TypeRef, where: str) -> dict[str, Any]:
        is_dir = t.kind == "directory"
        path = find_constant(v, is_dir, where)
        if path is not None:
            _, sha = store.put_dir(path) if is_dir else store.put_file(path)
            if sha != v["sha256"]:
                raise InputError(f"{where}: the constant {t.kind} {path} changed since the workflow was defined")
        return v

    map_constant_files(doc, upload)


# ----------------------------------------------------------------------------- executions


def prepare_inputs(doc: ir.WorkflowIR, given: Mapping[str, Any], store: S3Store, opts: Options) -> dict[str, Any]:
    """Check typed-JSON inputs (all errors at once), fill defaults, upload local files, offload large
    values that no Choice/Map reads."""
    from typedflow.runtime.inputs import check_inputs, store_input_files

    def put(path: Path, is_dir: bool) -> tuple[str, str]:
        return store.put_dir(path) if is_dir else store.put_file(path)

    out = store_input_files(doc, check_inputs(doc, given), put)
    out = {p.name: _imported(out[p.name], p.type, store) for p in doc.workflow.inputs if p.name in out}

    req = requirements(workflow_refs(doc))
    inline = [k for (kind, k, _), v in req.items() if kind == "input" and v == WHOLE]
    each = [k for (kind, k, _), v in req.items() if kind == "input" and v == ELEMENTWISE]
    return offload(out, inline=inline, elementwise=each, limit=opts.offload_threshold, put=store.put_value)


def _imported(value: Any, t: ir.TypeRef, store: S3Store) -> Any:
    """``value`` with every s3:// file outside the store copied into it (with the caller's credentials):
    the workers read only their own store's content."""
    from typedflow.runtime.execute import has_files, map_files

    def visit(v: dict[str, Any], ft: ir.TypeRef) -> dict[str, Any]:
        uri = str(v.get("uri", ""))
        if not uri.startswith("s3://"):
            return v
        is_dir = ft.kind == "directory"
        try:
            store.locate(uri, v.get("sha256"), is_dir)
            return v
        except BoundaryError:
            pass
        if is_dir:
            raise InputError(f"{uri}: a directory outside the store; pass a local directory (it is uploaded)")
        import tempfile

        bucket, key = split_s3(uri)
        with tempfile.TemporaryDirectory(prefix="tf-import-") as tmp:
            local = Path(tmp) / "object"
            try:
                store.s3.download_file(bucket, key, str(local))
            except Exception as exc:
                raise InputError(f"cannot read the input {uri}: {exc}") from None
            new_uri, sha = store.put_file(local)
        return {"uri": new_uri, "sha256": sha, "format": v.get("format") or ft.name}

    return map_files(value, t, visit) if has_files(t) else value


def start(
    doc: ir.WorkflowIR,
    opts: Options,
    inputs: Mapping[str, Any],
    *,
    machine_arn: str,
    execution_name: str | None = None,
    sfn: Any = None,
    s3: Any = None,
) -> str:
    if not opts.bucket:
        raise OptionError("start needs --bucket s3://bucket/prefix (inputs' files and large values go there)")
    c = _clients(sfn=sfn, s3=s3)
    prepared = prepare_inputs(doc, inputs, store_for(opts.bucket, c["s3"]), opts)
    import uuid

    # an explicit name: moto names unnamed executions ":None", and a name makes runs easy to find
    name = execution_name or f"{machine_name(doc)[:40]}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    kwargs: dict[str, Any] = {"stateMachineArn": machine_arn, "input": json.dumps(prepared), "name": name}
    return str(c["sfn"].start_execution(**kwargs)["executionArn"])


def wait(sfn: Any, execution_arn: str, *, poll: float = 0.05, timeout: float | None = None) -> dict[str, Any]:
    t0 = time.monotonic()
    delay = poll
    while True:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] != "RUNNING":
            return desc
        if timeout is not None and time.monotonic() - t0 > timeout:
            return desc
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def decode_outputs(doc: ir.WorkflowIR, output: str | None, store: S3Store) -> dict[str, Any]:
    """The workflow outputs as plain typed JSON (offloaded values fetched)."""
    data = json.loads(output) if output else {}
    run_id = ""
    declared = {p.name: p.type for p in doc.workflow.outputs}
    outs = {k: resolve(v, store.get_value, lambda e: failure_value(store, doc, run_id, e)) for k, v in data.items()}
    # in the normal form of the declared type (an int task output returned as a float is 2.0), as locally
    return {k: normal_form(v, declared[k]) if k in declared else v for k, v in outs.items()}


def printable(doc: ir.WorkflowIR, outs: dict[str, Any]) -> Any:
    """What ``typedflow run`` prints for these outputs."""
    wf = doc.workflow
    if len(wf.outputs) == 1 and wf.outputs[0].name == "out" and wf.returns.flavor != "namedtuple":
        return outs.get("out")
    return outs if wf.outputs else None


# ----------------------------------------------------------------------------- CLI


def add_deploy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role-arn", metavar="ARN", help="the state machine's execution role")
    p.add_argument("--name", metavar="NAME", help="state machine name (default: the workflow's name)")
    p.add_argument("--schedule-role-arn", metavar="ARN", help="role EventBridge Scheduler assumes (default --role-arn)")
    p.add_argument(
        "--print-iam-policy",
        nargs="?",
        const="state-machine",
        choices=["state-machine", "worker", "deployer"],
        help="print the least-privilege IAM policy (of the state machine role by default) and exit",
    )


def add_start_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", metavar="NAME", help="state machine name (default: the workflow's name)")
    p.add_argument("--state-machine-arn", metavar="ARN", help="start this state machine (default: found by name)")
    p.add_argument("--execution-name", metavar="NAME", help="execution name (default: generated)")
    p.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up after S seconds")


def _options(args: argparse.Namespace) -> Options:
    return from_mapping(vars(args))


def deploy_command(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    try:
        opts = _options(args)
        if args.print_iam_policy:
            executors = opts.executors([t.name for t in doc.tasks])
            children: tuple[str, ...] = ()
            distributed: tuple[str, ...] = ()
            if args.print_iam_policy == "state-machine":
                named = attrs.evolve(opts, name=machine_name(doc, args.name or opts.name))
                machines = compile_machines(doc, named)
                children = tuple(n for n, _ in machines[1:])
                distributed = tuple(n for n, d in machines if has_distributed_map(d))
            policy = {
                "state-machine": lambda: state_machine_policy(opts, executors, children, distributed),
                "worker": lambda: worker_policy(opts, executors, store_refs(doc.tasks, "aws-sm")),
                "deployer": lambda: deployer_policy(
                    machine_name(doc, args.name), args.role_arn or "*", bool(doc.workflow.schedule)
                ),
            }[args.print_iam_policy]()
            print(json.dumps(policy, indent=2, sort_keys=True))
            return 0
        if not args.role_arn:
            raise OptionError("deploy needs --role-arn (the state machine's execution role)")
        shipment = getattr(args, "shipment", None)
        for note in shipment.plan.notes if shipment is not None else ():
            if any(k in ("ecs", "batch") for k in opts.executors([t.name for t in doc.tasks])):
                print(f"typedflow deploy: note: {note}", file=sys.stderr)
        d = deploy(
            doc,
            opts,
            role_arn=args.role_arn,
            name=args.name,
            schedule_role_arn=args.schedule_role_arn,
            shipment=shipment,
        )
    except (OptionError, ValueError) as exc:
        print(f"typedflow deploy: {exc}", file=sys.stderr)
        return 2
    what = "created" if d.created else ("updated" if d.updated else "unchanged")
    print(
        f"state machine {what}"
        + (f", version {d.version_arn}" if d.version_arn else "")
        + (f", schedule {d.schedule_arn}" if d.schedule_arn else "")
        + (f", code {d.code}" if d.code else ""),
        file=sys.stderr,
    )
    for item in d.registered:
        print(f"  {item}", file=sys.stderr)
    for child in d.children:
        print(f"  child state machine {child}", file=sys.stderr)
    print(d.arn)
    return 0


def start_command(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    from typedflow.runtime.inputs import parse_inputs

    try:
        opts = _options(args)
        inputs = parse_inputs(doc, args.input or [], args.inputs_file)
        c = _clients(sfn=None, s3=None)
        arn = args.state_machine_arn or _find(c["sfn"], machine_name(doc, args.name))
        if arn is None:
            raise OptionError(f"no state machine named {machine_name(doc, args.name)!r}; deploy it first")
        opts = read_back(c["sfn"], arn, opts)
        execution = start(
            doc, opts, inputs, machine_arn=arn, execution_name=args.execution_name, sfn=c["sfn"], s3=c["s3"]
        )
    except (OptionError, InputError) as exc:
        print(f"typedflow start: {exc}", file=sys.stderr)
        return 2
    print(execution, file=sys.stderr)
    if not args.wait:
        print(execution)
        return 0
    desc = wait(c["sfn"], execution, timeout=args.timeout)
    assert opts.bucket is not None
    store = store_for(opts.bucket, c["s3"])
    if desc["status"] != "SUCCEEDED":
        from typedflow.cli.runops import FailureInfo, failure_text

        if desc["status"] == "RUNNING":
            print(f"execution {desc['name']} is still running after {args.timeout:g}s", file=sys.stderr)
            return 1
        from .failures import caught_failure

        error, cause = str(desc.get("error") or desc["status"]), str(desc.get("cause") or "")
        failure = FailureInfo.from_mapping(caught_failure(store, doc.workflow.name, str(desc["name"]), error, cause))
        sys.stderr.write(failure_text(failure, str(desc["name"])))
        return 1
    outs = decode_outputs(doc, desc.get("output"), store)
    print(json.dumps(printable(doc, outs), indent=2, sort_keys=True))
    return 0


def read_back(sfn: Any, arn: str, opts: Options) -> Options:
    """``opts`` with what the deployment configured and the command did not say (the store)."""
    if opts.bucket:
        return opts

    bucket, _ = deployed(sfn, arn)
    if not bucket:
        raise OptionError("the deployed state machine names no store: pass --bucket s3://bucket/prefix")
    return attrs.evolve(opts, bucket=bucket.rstrip("/"))
