"""Signed lineage on Vertex: ``deploy --lineage-key gcpkms:… --lineage-anchor gs://…``.

The options become environment variables of every task container (``TYPEDFLOW_LINEAGE_KEY``,
``TYPEDFLOW_LINEAGE_ANCHOR``), which the task runtime reads when it writes its record: each record
then gets a checkpoint signed through Cloud KMS as the job's service account, and a copy of it in the
anchor bucket. :func:`bindings` are what that service account needs for them.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, Final

import attrs

from typedflow.errors import InputError
from typedflow.lineage.cloud import ENV_ANCHOR
from typedflow.lineage.signing import ENV_KEY, GCP_KMS

from .spec import Container, EnvVar, PipelineSpec

_KEY_FORM: Final = "gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N"
_NAME: Final = r"[A-Za-z0-9_-]{1,63}"
_VERSION: Final = re.compile(
    rf"projects/(?P<project>[a-z0-9.:-]{{4,}})/locations/(?P<location>[a-z0-9-]+)/keyRings/(?P<ring>{_NAME})"
    rf"/cryptoKeys/(?P<key>{_NAME})/cryptoKeyVersions/(?P<version>[1-9][0-9]{{0,9}})"
)
_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


@attrs.frozen
class LineageOptions:
    """A Cloud KMS key version (``projects/…/cryptoKeyVersions/N``) and a ``gs://bucket[/prefix]`` anchor."""

    key_version: str | None = None
    anchor: str | None = None

    @property
    def crypto_key(self) -> str | None:
        """The key the version belongs to: IAM roles are granted on keys, not on versions."""
        return self.key_version.rsplit("/cryptoKeyVersions/", 1)[0] if self.key_version else None

    def anchor_parts(self) -> tuple[str, str]:
        """(bucket, prefix without slashes at the ends) of the anchor."""
        assert self.anchor is not None
        bucket, _, prefix = self.anchor.removeprefix("gs://").partition("/")
        return bucket, prefix.strip("/")

    def environment(self) -> list[tuple[str, str]]:
        env = []
        if self.key_version:
            env.append((ENV_KEY, GCP_KMS + self.key_version))
        if self.anchor:
            env.append((ENV_ANCHOR, self.anchor))
        return env


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lineage-key",
        metavar="SPEC",
        help=f"sign each task's lineage record with this Cloud KMS key version, as the pipeline's service "
        f"account: {_KEY_FORM} (an EC_SIGN_P256_SHA256 or EC_SIGN_ED25519 key)",
    )
    p.add_argument(
        "--lineage-anchor",
        metavar="GS_URI",
        help="also write each signed checkpoint to gs://bucket[/prefix], a bucket with a locked retention policy",
    )


def parse_key(spec: str) -> str:
    """The key version a ``--lineage-key`` names; :class:`InputError` saying what is wrong."""
    text = spec.strip()
    if text.startswith("awskms:"):
        raise InputError(
            f"--lineage-key {spec!r}: Vertex containers sign with a Cloud KMS key version ({_KEY_FORM}); "
            "awskms: keys are for --target stepfunctions"
        )
    if not text.startswith(GCP_KMS):
        raise InputError(f"--lineage-key {spec!r}: expected {_KEY_FORM}")
    name = text[len(GCP_KMS) :]
    if _VERSION.fullmatch(name):
        return name
    if "/cryptoKeyVersions/" not in name and _VERSION.fullmatch(name + "/cryptoKeyVersions/1"):
        raise InputError(
            f"--lineage-key {spec!r}: names a key, not a key version; Cloud KMS signs with versions: "
            "add /cryptoKeyVersions/N"
        )
    raise InputError(f"--lineage-key {spec!r}: expected {_KEY_FORM} (N a version number)")


def parse_anchor(uri: str) -> str:
    """``gs://bucket[/prefix]`` without a trailing slash; :class:`InputError` saying what is wrong."""
    if not uri.startswith("gs://"):
        raise InputError(f"--lineage-anchor {uri!r}: expected gs://bucket[/prefix]")
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InputError(f"--lineage-anchor {uri!r}: {bucket!r} is not a bucket name")
    if "//" in prefix.strip("/") or any(part in (".", "..") for part in prefix.split("/")):
        raise InputError(f"--lineage-anchor {uri!r}: the prefix has an empty, '.' or '..' segment")
    return uri.rstrip("/")


def from_args(args: argparse.Namespace) -> LineageOptions:
    key, anchor = getattr(args, "lineage_key", None), getattr(args, "lineage_anchor", None)
    return LineageOptions(parse_key(key) if key else None, parse_anchor(anchor) if anchor else None)


def _is_task(container: Container) -> bool:
    return "--task" in container["args"]


def apply(spec: PipelineSpec, options: LineageOptions) -> None:
    """Set the options in the environment of each task container of ``spec`` (in place); the
    deployment's values replace what a task's environment says for the same variables."""
    env = options.environment()
    if not env:
        return
    names = {name for name, _ in env}
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor["container"]
        if not _is_task(container):
            continue  # constants and the outputs step write no lineage record
        kept = [e for e in container.get("env", []) if e["name"] not in names]
        container["env"] = [*kept, *(EnvVar(name=k, value=v) for k, v in env)]


def needed_packages(options: LineageOptions) -> list[str]:
    """What a task image needs beyond typedflow for these options."""
    out = ["google-cloud-kms", "google-crc32c"] if options.key_version else []
    return out + (["google-cloud-storage"] if options.anchor else [])


def image_note(options: LineageOptions, shipment: Any, image: str | None) -> str:
    """Which task images may lack the packages the options need ('' when every environment has them)."""
    needed = needed_packages(options)
    if not needed:
        return ""
    if image or shipment is None:
        return f"the task images must have {', '.join(needed)} to sign and anchor lineage records"
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    lacking = set()
    for image_ in shipment.plan.images():
        names = set()
        for spec in image_.env.packages:
            try:
                names.add(canonicalize_name(Requirement(spec).name))
            except InvalidRequirement:
                continue
        lacking |= {n for n in needed if canonicalize_name(n) not in names}
    if not lacking:
        return ""
    missing = ", ".join(n for n in needed if n in lacking)
    return f"add {missing} to the tasks' environment packages: task containers sign and anchor lineage with them"


def bindings(options: LineageOptions, member: str) -> list[dict[str, Any]]:
    """Signing with the key (and reading its public key, which the runtime checks each signature
    against), and creating, never deleting or replacing, objects under the anchor's ``lineage/``."""
    out: list[dict[str, Any]] = []
    if options.crypto_key:
        for role in ("roles/cloudkms.signer", "roles/cloudkms.publicKeyViewer"):
            out.append({"role": role, "resource": options.crypto_key, "member": member})
    if options.anchor:
        bucket, prefix = options.anchor_parts()
        lineage = f"{prefix}/lineage/" if prefix else "lineage/"
        out.append(
            {
                "role": "roles/storage.objectCreator",
                "resource": f"projects/_/buckets/{bucket}",
                "member": member,
                "condition": {
                    "title": "typedflow lineage anchor",
                    "expression": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{lineage}")',
                },
            }
        )
    return out


__all__ = [
    "LineageOptions",
    "add_options",
    "apply",
    "bindings",
    "from_args",
    "image_note",
    "needed_packages",
    "parse_anchor",
    "parse_key",
]
