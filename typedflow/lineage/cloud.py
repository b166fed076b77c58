"""Lineage records as immutable, content-addressed cloud objects, and pulling them into a local log.

An object holds the canonical JSON of a record before any log chained it (``seq=-1``,
``prev_hash=""``) with ``log_origin`` set to the run's object prefix; its key is
``<prefix>/lineage/<run_id>/<sha256 of the body>.json``, so a key names its content and a write
never replaces an object (S3 ``If-None-Match: *``, GCS ``if_generation_match=0``).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import attrs

from typedflow.canonical import canonical_bytes
from typedflow.lineage.log import LineageLog
from typedflow.lineage.record import LineageRecord, origin_hash, record_from_dict, record_line

__all__ = [
    "CloudObject",
    "PullResult",
    "PutResult",
    "iter_dir",
    "iter_gcs",
    "iter_location",
    "iter_s3",
    "object_for",
    "pull",
    "put",
    "put_dir",
    "put_gcs",
    "put_s3",
]

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_KIND_ORDER: Final = {"run_start": 0, "task": 1, "run_end": 2}


@attrs.frozen
class CloudObject:
    """One stored object: its full URI and its bytes."""

    uri: str
    body: bytes


@attrs.frozen
class PutResult:
    uri: str
    record_hash: str
    created: bool  # False: the object already existed (same key, hence same content)


@attrs.frozen
class PullResult:
    appended: int
    skipped: int  # already in the log
    rejected: tuple[tuple[str, str], ...]  # (uri, reason)


def _run_dir(scheme: str, bucket: str, prefix: str, run_id: str) -> tuple[str, str]:
    key_dir = "/".join(p for p in (prefix.strip("/"), "lineage", quote(run_id, safe="")) if p)
    return key_dir, f"{scheme}://{bucket}/{key_dir}/"


def object_for(record: LineageRecord, scheme: str, bucket: str, prefix: str = "") -> tuple[str, bytes, str]:
    """(key, body, record_hash) of the object that stores ``record``."""
    key_dir, origin = _run_dir(scheme, bucket, prefix, record.run_id)
    stored = attrs.evolve(record, seq=-1, prev_hash="", log_origin=record.log_origin or origin)
    body = record_line(stored)
    digest = hashlib.sha256(body).hexdigest()
    return f"{key_dir}/{digest}.json", body, digest


def _boto3_client(client: Any) -> Any:
    if client is not None:
        return client
    return importlib.import_module("boto3").client("s3")


def put_s3(record: LineageRecord, bucket: str, prefix: str = "", *, client: Any = None) -> PutResult:
    """Write ``record`` once; an existing object with the same key is left untouched."""
    s3 = _boto3_client(client)
    key, body, digest = object_for(record, "s3", bucket, prefix)
    uri = f"s3://{bucket}/{key}"
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            IfNoneMatch="*",
            ContentType="application/json",
            ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
        )
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        # 412: the key exists. 409: a concurrent conditional write of the same key (same bytes).
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return PutResult(uri, digest, created=False)
        raise
    return PutResult(uri, digest, created=True)


def iter_s3(bucket: str, prefix: str = "", *, run_id: str | None = None, client: Any = None) -> Iterator[CloudObject]:
    """Objects under ``<prefix>/lineage/`` (or one run's directory)."""
    s3 = _boto3_client(client)
    if run_id is not None:
        list_prefix = _run_dir("s3", bucket, prefix, run_id)[0] + "/"
    else:
        list_prefix = "/".join(p for p in (prefix.strip("/"), "lineage") if p) + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=list_prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            yield CloudObject(f"s3://{bucket}/{item['Key']}", body)


def _gcs_client(client: Any) -> Any:
    if client is not None:
        return client
    return importlib.import_module("google.cloud.storage").Client()


def put_gcs(record: LineageRecord, bucket: str, prefix: str = "", *, client: Any = None) -> PutResult:
    """Write ``record`` once with ``if_generation_match=0`` (create-only)."""
    gcs = _gcs_client(client)
    key, body, digest = object_for(record, "gs", bucket, prefix)
    uri = f"gs://{bucket}/{key}"
    try:
        gcs.bucket(bucket).blob(key).upload_from_string(body, content_type="application/json", if_generation_match=0)
    except Exception as exc:
        if type(exc).__name__ == "PreconditionFailed" or getattr(exc, "code", None) == 412:
            return PutResult(uri, digest, created=False)
        raise
    return PutResult(uri, digest, created=True)


def iter_gcs(bucket: str, prefix: str = "", *, run_id: str | None = None, client: Any = None) -> Iterator[CloudObject]:
    gcs = _gcs_client(client)
    if run_id is not None:
        list_prefix = _run_dir("gs", bucket, prefix, run_id)[0] + "/"
    else:
        list_prefix = "/".join(p for p in (prefix.strip("/"), "lineage") if p) + "/"
    for blob in gcs.list_blobs(bucket, prefix=list_prefix):
        yield CloudObject(f"gs://{bucket}/{blob.name}", blob.download_as_bytes())


def _check_object(obj: CloudObject) -> LineageRecord:
    """The record an object holds, if its key, its bytes and its content agree; else ValueError."""
    name = obj.uri.rsplit("/", 1)[-1]
    expected = name.removesuffix(".json")
    if not name.endswith(".json") or not _HEX64.match(expected):
        raise ValueError("key is not <sha256>.json")
    if hashlib.sha256(obj.body).hexdigest() != expected:
        raise ValueError("content hash does not match the key")
    data = json.loads(obj.body)
    if canonical_bytes(data) != obj.body:
        raise ValueError("body is not canonical JSON")
    record = record_from_dict(data)
    if record.seq != -1 or record.prev_hash != "":
        raise ValueError("object holds a chained record")
    if not record.log_origin:
        raise ValueError("record has no log_origin")
    run_dir = obj.uri.rsplit("/", 2)[-2]
    if run_dir != quote(record.run_id, safe=""):
        raise ValueError("record's run_id does not match its key")
    return record


def _event_time(record: LineageRecord) -> tuple[str, int]:
    # A record is written when its event completes: run_start at its start, the rest at their end.
    when = record.started_at if record.kind == "run_start" else (record.ended_at or record.started_at)
    return when, _KIND_ORDER.get(record.kind, 1)


def pull(objects: Iterable[CloudObject], log: LineageLog) -> PullResult:
    """Verify each object (hash == key) and append the new ones to ``log`` in event order."""
    present = {origin_hash(rec) for rec, _ in log.records()}
    accepted: dict[str, LineageRecord] = {}
    rejected: list[tuple[str, str]] = []
    skipped = 0
    for obj in objects:
        try:
            record = _check_object(obj)
        except ValueError as exc:
            rejected.append((obj.uri, str(exc)))
            continue
        digest = hashlib.sha256(obj.body).hexdigest()
        if digest in present or digest in accepted:
            skipped += 1
            continue
        accepted[digest] = record
    for record in sorted(accepted.values(), key=_event_time):
        log.append(record)
    log.flush()
    return PullResult(appended=len(accepted), skipped=skipped, rejected=tuple(rejected))


def put_dir(record: LineageRecord, root: str | os.PathLike[str], prefix: str = "") -> PutResult:
    """Write ``record`` once under a directory (a local run root, or a bucket mounted as files,
    e.g. Vertex's ``/gcs/``); ``O_EXCL`` plays the part of the conditional put."""
    base = Path(root)
    key, body, digest = object_for(record, "file", str(base.absolute()).strip("/"), prefix)
    path = base / key
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        return PutResult(str(path), digest, created=False)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    return PutResult(str(path), digest, created=True)


def iter_dir(root: str | os.PathLike[str], prefix: str = "", *, run_id: str | None = None) -> Iterator[CloudObject]:
    base = Path(root) / prefix.strip("/") / "lineage"
    if run_id is not None:
        base = base / quote(run_id, safe="")
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        yield CloudObject(str(path), path.read_bytes())


def _split(uri: str) -> tuple[str, str, str]:
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    return scheme, bucket, prefix


def put(record: LineageRecord, location: str, *, client: Any = None) -> PutResult:
    """Write ``record`` under ``location``: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or a directory."""
    if "://" in location and not location.startswith("file://"):
        scheme, bucket, prefix = _split(location)
        if scheme == "s3":
            return put_s3(record, bucket, prefix, client=client)
        if scheme == "gs":
            return put_gcs(record, bucket, prefix, client=client)
        raise ValueError(f"unsupported lineage location {location!r}")
    return put_dir(record, location.removeprefix("file://"))


def iter_location(location: str, *, run_id: str | None = None, client: Any = None) -> Iterator[CloudObject]:
    """The record objects under ``location`` (see :func:`put`)."""
    if "://" in location and not location.startswith("file://"):
        scheme, bucket, prefix = _split(location)
        if scheme == "s3":
            return iter_s3(bucket, prefix, run_id=run_id, client=client)
        if scheme == "gs":
            return iter_gcs(bucket, prefix, run_id=run_id, client=client)
        raise ValueError(f"unsupported lineage location {location!r}")
    return iter_dir(location.removeprefix("file://"), run_id=run_id)
