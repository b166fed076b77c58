"""The IAM bindings a Vertex pipeline's service account needs (``deploy --target vertex --print-iam-policy``).

A JSON list of ``{role, resource, member[, condition]}``, in a fixed order: Vertex AI on the project,
object admin on the pipeline root's bucket (only under its folder, when it has one), reader on each
Artifact Registry repository the task images come from, secret accessor on exactly each
``gcp-sm:`` secret the tasks declare, and, with ``--lineage-key`` / ``--lineage-anchor``, signing with
that Cloud KMS key and creating objects under the anchor's ``lineage/`` (see :mod:`.lineage`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from typedflow import ir
from typedflow.errors import InputError

from .lineage import LineageOptions
from .lineage import bindings as lineage_bindings
from .spec import PipelineSpec

DEFAULT_SERVICE_ACCOUNT = "PROJECT_NUMBER-compute@developer.gserviceaccount.com"
"""What Vertex Pipelines runs as without ``--service-account``: the Compute Engine default service account."""

_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_ACCOUNT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
_PKG_DEV = re.compile(r"(?P<loc>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/:@]+)/.+")
_GCR = re.compile(r"(?P<host>(?:(?P<region>us|eu|asia)\.)?gcr\.io)/(?P<project>[^/]+)/.+")
_GCR_LOCATIONS = {None: "us", "us": "us", "eu": "europe", "asia": "asia"}


def repositories(images: Iterable[str]) -> list[str]:
    """The Artifact Registry repositories (``projects/P/locations/L/repositories/R``) of ``images``;
    images elsewhere (Docker Hub's ``python:3.11-slim``) need no binding."""
    out = set()
    for image in images:
        if m := _PKG_DEV.fullmatch(image):
            out.add(f"projects/{m['project']}/locations/{m['loc']}/repositories/{m['repo']}")
        elif m := _GCR.fullmatch(image):  # Container Registry's hosts are Artifact Registry repositories
            out.add(f"projects/{m['project']}/locations/{_GCR_LOCATIONS[m['region']]}/repositories/{m['host']}")
    return sorted(out)


def secrets(doc: ir.WorkflowIR, project: str) -> list[str]:
    """Each secret (``projects/P/secrets/S``) a ``gcp-sm:`` reference of a task names; a version is
    read with its secret's access. :class:`InputError` for a malformed reference."""
    from typedflow.dsl.taskenv import store_refs
    from typedflow.runtime.secret_stores import split_gcp

    out = set()
    for ref in store_refs(doc.tasks, "gcp-sm"):
        try:
            name = split_gcp(ref, project)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        out.add(name.rsplit("/versions/", 1)[0])
    return sorted(out)


def bindings(
    doc: ir.WorkflowIR,
    *,
    project: str,
    pipeline_root: str,
    service_account: str | None,
    images: Iterable[str],
    lineage: LineageOptions | None = None,
) -> list[dict[str, Any]]:
    """The bindings the pipeline's service account needs to run ``doc`` with task images ``images``."""
    problems = []
    if not _PROJECT.fullmatch(project):
        problems.append(f"--project {project!r}: not a project id")
    bucket, _, folder = pipeline_root.removeprefix("gs://").partition("/")
    if not pipeline_root.startswith("gs://") or not _BUCKET.fullmatch(bucket):
        problems.append(f"--pipeline-root {pipeline_root!r}: expected gs://bucket/folder")
    if service_account is not None and not _ACCOUNT.fullmatch(service_account):
        problems.append(f"--service-account {service_account!r}: expected the account's email")
    if problems:
        raise InputError("; ".join(problems))
    member = f"serviceAccount:{service_account or DEFAULT_SERVICE_ACCOUNT}"
    storage: dict[str, Any] = {
        "role": "roles/storage.objectAdmin",
        "resource": f"projects/_/buckets/{bucket}",
        "member": member,
    }
    folder = folder.strip("/")
    if folder:
        # objects under the root only; listing is asked of the bucket (the /gcs/ mount lists folders)
        storage["condition"] = {
            "title": "typedflow pipeline root",
            "expression": (
                'resource.type == "storage.googleapis.com/Bucket" || '
                f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{folder}/")'
            ),
        }
    return [
        {"role": "roles/aiplatform.user", "resource": f"projects/{project}", "member": member},
        storage,
        *(
            {"role": "roles/artifactregistry.reader", "resource": repo, "member": member}
            for repo in repositories(images)
        ),
        *(
            {"role": "roles/secretmanager.secretAccessor", "resource": name, "member": member}
            for name in secrets(doc, project)
        ),
        *lineage_bindings(lineage or LineageOptions(), member),
    ]


def spec_images(spec: PipelineSpec) -> list[str]:
    """The images of a compiled spec's executors."""
    return sorted({e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()})


__all__ = ["DEFAULT_SERVICE_ACCOUNT", "bindings", "repositories", "secrets", "spec_images"]
