"""``typedflow deploy --target vertex``: submit a compiled workflow as a Vertex ``PipelineJob``
(or a ``PipelineJobSchedule`` when the workflow has a cron ``schedule``).

google-cloud-aiplatform is imported here only, and only when a job is built. Parameter values
are checked against the workflow's types first: aiplatform checks names, never types.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.errors import InputError
from typedflow.runtime.inputs import check_inputs, parse_inputs

from .compiler import compile_spec, pipeline_name
from .constants import has_local_constants, publish_constant_files
from .labels import deployment_labels
from .lineage import LineageOptions, image_note
from .lineage import add_options as add_lineage_options
from .lineage import apply as apply_lineage
from .lineage import from_args as lineage_options


def add_deploy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", help="Google Cloud project id (required; a profile may give it)")
    p.add_argument("--region", help="Vertex AI region, e.g. us-central1 (required; a profile may give it)")
    p.add_argument(
        "--pipeline-root", metavar="GS_URI", help="gs:// folder for artifacts (required; a profile may give it)"
    )
    p.add_argument("--wait", action="store_true", help="wait for the run to finish and print its state")
    p.add_argument("--service-account", help="service account the tasks run as")
    p.add_argument("--network", help="VPC network (projects/NUMBER/global/networks/NAME)")
    p.add_argument("--labels", metavar="K=V,...", help="job labels")
    p.add_argument(
        "--enable-caching",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override every task's cache setting",
    )
    p.add_argument("--input", action="append", metavar="NAME=VALUE", help="a workflow input")
    p.add_argument("--inputs-file", metavar="FILE", help="a JSON object of inputs")
    p.add_argument("--display-name", help="job display name (default: the workflow name)")
    p.add_argument("--run-once", action="store_true", help="submit one run even when the workflow has a schedule")
    p.add_argument(
        "--print-iam-policy",
        action="store_true",
        help="print the IAM bindings the pipeline's service account needs (JSON) and exit; needs --project, "
        "--pipeline-root",
    )
    add_lineage_options(p)


def parse_labels(text: str | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise InputError(f"--labels: expected key=value, got {item!r}")
        labels[k.strip()] = v.strip()
    return labels


def check_parameters(doc: ir.WorkflowIR, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter values to submit (the spec carries the defaults); raises InputError listing
    every problem. aiplatform checks names only, so the types are checked here (and record fields left
    out take their defaults, as on every target)."""
    checked = check_inputs(doc, values)
    errors = []
    for p in doc.workflow.inputs:
        v = values.get(p.name)
        if p.type.kind in ("file", "directory") and v is not None and not str(v.get("uri", "")).startswith("gs://"):
            errors.append(f'input "{p.name}": Vertex tasks read files from gs:// URIs, got {v.get("uri")!r}')
    if errors:
        raise InputError("; ".join(errors))
    return {name: checked[name] for name in values}


def build_job(
    doc: ir.WorkflowIR,
    *,
    project: str,
    region: str,
    pipeline_root: str,
    parameter_values: Mapping[str, Any] | None = None,
    enable_caching: bool | None = None,
    labels: Mapping[str, str] | None = None,
    display_name: str | None = None,
    image: str | None = None,
    credentials: Any = None,
    spec_dir: Path | None = None,
    shipment: Any = None,
    lineage: LineageOptions | None = None,
) -> Any:
    """An ``aiplatform.PipelineJob`` for the workflow (built offline; nothing is sent). ``lineage``:
    the key its task containers sign lineage records with, and the anchor they copy checkpoints to."""
    from google.cloud import aiplatform  # type: ignore[import-untyped,unused-ignore]

    values = check_parameters(doc, parameter_values or {})
    spec = compile_spec(doc, image=image, shipment=shipment)
    if lineage is not None:
        apply_lineage(spec, lineage)
    directory = spec_dir or Path(tempfile.mkdtemp(prefix="typedflow-vertex-"))
    path = directory / f"{pipeline_name(doc)}.json"
    path.write_text(json.dumps(spec, sort_keys=True), "utf-8")
    return aiplatform.PipelineJob(
        display_name=display_name or doc.workflow.name,
        template_path=str(path),
        pipeline_root=pipeline_root,
        parameter_values=values or None,
        enable_caching=enable_caching,
        labels=dict(labels) if labels else None,
        project=project,
        location=region,
        credentials=credentials,
    )


def publish_code(shipment: Any, store: Any, image: str | None) -> list[str]:
    """Put the code bundle (and, for stock containers, typedflow's wheel) under the pipeline root's
    ``code/``, where task containers read them; what was uploaded."""
    from typedflow.shipping.codestore import publish, publish_wheel

    done = []
    if shipment is not None and shipment.bundle is not None:
        key, uploaded = publish(shipment.bundle, store)
        if uploaded:
            done.append(key)
    if shipment is not None and not image and any(not i.built for i in shipment.plan.images()):
        key, uploaded = publish_wheel(store)
        if uploaded:
            done.append(key)
    return done


def print_iam_policy(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    """``--print-iam-policy``: the bindings of :mod:`.iam` as JSON on stdout; nothing is sent."""
    from .iam import DEFAULT_SERVICE_ACCOUNT, bindings, spec_images

    missing = [f for f in ("project", "pipeline_root") if not getattr(args, f, None)]
    if missing:
        raise InputError("--print-iam-policy needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    spec = compile_spec(doc, image=getattr(args, "image", None), shipment=getattr(args, "shipment", None))
    policy = bindings(
        doc,
        project=args.project,
        pipeline_root=args.pipeline_root,
        service_account=getattr(args, "service_account", None),
        images=spec_images(spec),
        lineage=lineage_options(args),
    )
    print(json.dumps(policy, indent=2, sort_keys=True))
    if not getattr(args, "service_account", None):
        print(
            f"typedflow deploy: note: without --service-account Vertex runs the pipeline as {DEFAULT_SERVICE_ACCOUNT} "
            "(the Compute Engine default service account: put your project's number)",
            file=sys.stderr,
        )
    return 0


def deploy_command(doc: ir.WorkflowIR, args: argparse.Namespace, code_store: Any = None) -> int:
    if getattr(args, "print_iam_policy", False):
        return print_iam_policy(doc, args)
    missing = [f for f in ("project", "region", "pipeline_root") if not getattr(args, f, None)]
    if missing:
        raise InputError("deploy --target vertex needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    lineage = lineage_options(args)  # before anything is uploaded
    note = image_note(lineage, getattr(args, "shipment", None), getattr(args, "image", None))
    if note:
        print(f"typedflow deploy: note: {note}", file=sys.stderr)
    values = parse_inputs(doc, args.input or [], args.inputs_file, local_files=False)
    shipment = getattr(args, "shipment", None)
    image = getattr(args, "image", None)
    ships = shipment is not None and (shipment.bundle is not None or not image)
    if ships or has_local_constants(doc):
        if not str(args.pipeline_root).startswith("gs://"):
            raise InputError(f"--pipeline-root {args.pipeline_root!r}: expected gs://bucket/folder")
        if code_store is None:
            from google.cloud import storage  # type: ignore[import-untyped,unused-ignore,attr-defined]

            from typedflow.shipping.codestore import GcsCode

            code_store = GcsCode(args.pipeline_root, storage.Client(project=args.project))
        uploaded = publish_code(shipment, code_store, image) if ships else []
        uploaded += publish_constant_files(doc, code_store)
        for key in uploaded:
            print(f"uploaded {args.pipeline_root.rstrip('/')}/{key}", file=sys.stderr)
        if shipment is not None and ships and not image:
            for note in shipment.plan.notes:
                print(f"typedflow deploy: note: {note}", file=sys.stderr)
    job = build_job(
        doc,
        project=args.project,
        region=args.region,
        pipeline_root=args.pipeline_root,
        parameter_values=values,
        enable_caching=args.enable_caching,
        labels={**parse_labels(args.labels), **deployment_labels(doc)},
        display_name=args.display_name,
        image=image,
        shipment=shipment,
        lineage=lineage,
    )
    cron = doc.workflow.schedule
    if cron and not args.run_once:
        schedule = job.create_schedule(
            cron=cron,
            display_name=args.display_name or f"{doc.workflow.name}-schedule",
            service_account=args.service_account,
            network=args.network,
        )
        print(schedule.resource_name)
        return 0
    job.submit(service_account=args.service_account, network=args.network)
    print(job.resource_name)
    if args.wait:
        job.wait()
        state = str(job.state)
        print(state, file=sys.stderr)
        return 0 if state.endswith("SUCCEEDED") else 1
    return 0
