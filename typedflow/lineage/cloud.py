"""Lineage records as immutable, content-addressed cloud objects, and pulling them into a local log.

An object holds the canonical JSON of a record before any log chained it (``seq=-1``,
``prev_hash=""``) with ``log_origin`` set to the run's object prefix; its key is
``<prefix>/lineage/<run_id>/<sha256 of the body>.json``, so a key names its content and a write
never replaces an object (S3 ``If-None-Match: *``, GCS ``if_generation_match=0``).

With a signing key configured, each record also gets a signed checkpoint,
``<prefix>/lineage/<run_id>/checkpoints/<sha256 of the record>.json``, and, with an anchor, the same
checkpoint in a write-once bucket (S3 Object Lock, a GCS retention policy). ``pull`` checks them
against a public key and the anchor against the records, so a record deleted or replaced in the
run's bucket is noticed.
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

from typedflow.ir.canonical import canonical_bytes
from typedflow.lineage.log import CONFIGURED, LineageLog
from typedflow.lineage.record import LineageRecord, origin_hash, record_from_dict, record_line
from typedflow.lineage.signing import Signer, configured_signer
from typedflow.lineage.verify_bundle import ALGORITHMS, Keyring, PublicKey, keyring, signed_message
from typedflow.util.timestamps import utcnow

__all__ = [
    "ENV_ANCHOR",
    "OBJECT_CHECKPOINT_TYPE",
    "CloudObject",
    "PullResult",
    "PutResult",
    "check_s3_anchor",
    "iter_dir",
    "iter_gcs",
    "iter_location",
    "iter_s3",
    "object_checkpoint",
    "object_for",
    "pull",
    "put",
    "put_dir",
    "put_gcs",
    "put_s3",
]

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_KIND_ORDER: Final = {"run_start": 0, "task": 1, "run_end": 2}
OBJECT_CHECKPOINT_TYPE: Final = "typedflow-lineage-object-checkpoint/1"
ENV_ANCHOR: Final = "TYPEDFLOW_LINEAGE_ANCHOR"
_CHECKPOINTS: Final = "checkpoints"
_LOCK_MODES: Final = ("COMPLIANCE", "GOVERNANCE")


@attrs.frozen
class CloudObject:
    """One stored object: its full URI and its bytes (and, read from a write-once anchor, the time
    its Object Lock retention ends, or None when it has none)."""

    uri: str
    body: bytes
    locked_until: str | None = None


@attrs.frozen
class PutResult:
    uri: str
    record_hash: str
    created: bool  # False: the object already existed (same key, hence same content)
    checkpoint: str | None = None  # the signed checkpoint next to the record, when a key signed it
    anchored: str | None = None  # its copy in the write-once anchor


@attrs.frozen
class PullResult:
    appended: int
    skipped: int  # already in the log
    rejected: tuple[tuple[str, str], ...]  # (uri, reason)
    verified: int = 0  # records whose checkpoint verified with the trusted key
    unchecked: int = 0  # checkpoints seen but not checked (no key given)
    missing: tuple[tuple[str, str], ...] = ()  # (checkpoint uri, reason): anchored records not found
    key_ids: tuple[str, ...] = ()  # the trusted keys that signed accepted records, in the order first seen


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


def object_checkpoint(signer: Signer, record_hash: str, run_id: str, time: str | None = None) -> bytes:
    """A signed statement that the record object whose body hashes to ``record_hash`` belongs to
    ``run_id`` (canonical JSON)."""
    fields: dict[str, Any] = {
        "alg": signer.alg,
        "key_id": signer.key_id,
        "record": record_hash,
        "run_id": run_id,
        "time": time or utcnow(),
        "type": OBJECT_CHECKPOINT_TYPE,
    }
    fields["sig"] = base64.b64encode(signer.sign(signed_message(fields))).decode("ascii")
    return canonical_bytes(fields)


def _checkpoint_key(key: str) -> str:
    head, _, name = key.rpartition("/")
    return f"{head}/{_CHECKPOINTS}/{name}"


def _put_s3_bytes(s3: Any, bucket: str, key: str, body: bytes) -> bool:
    """Create ``key`` with ``body`` unless it exists; True when this call created it."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            IfNoneMatch="*",
            ContentType="application/json",
            # S3 checks the body against it; a write to an Object Lock bucket must name its algorithm
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
        )
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        # 412: the key exists. 409: a concurrent conditional write of the same key (same bytes).
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True


def _signer(signer: Signer | str | None) -> Signer | None:
    """``CONFIGURED``: the process's key; another string: a key spec (``awskms:…`` or a key file)."""
    if isinstance(signer, str):
        return configured_signer(None if signer == CONFIGURED else signer)
    return signer


def _anchor_checkpoint(record: LineageRecord, digest: str, cp: bytes, anchor: str | None, client: Any) -> str | None:
    """Write the checkpoint ``cp`` into the write-once ``anchor`` (default ``$TYPEDFLOW_LINEAGE_ANCHOR``)."""
    location = anchor if anchor is not None else os.environ.get(ENV_ANCHOR, "").strip() or None
    if not location:
        return None
    scheme, bucket, prefix = _split(location) if "://" in location else ("file", "", "")
    key = f"{_run_dir(scheme, bucket, prefix, record.run_id)[0]}/{_CHECKPOINTS}/{digest}.json"
    if scheme == "s3":
        _put_s3_bytes(_boto3_client(client), bucket, key, cp)
        return f"s3://{bucket}/{key}"
    if scheme == "gs":
        _put_gcs_bytes(_gcs_client(client), bucket, key, cp)
        return f"gs://{bucket}/{key}"
    if scheme == "file":
        base = Path(location.removeprefix("file://"))
        path = base / "lineage" / quote(record.run_id, safe="") / _CHECKPOINTS / f"{digest}.json"
        _put_file_bytes(path, cp)
        return str(path)
    raise ValueError(f"unsupported lineage anchor {location!r}")


def put_s3(
    record: LineageRecord,
    bucket: str,
    prefix: str = "",
    *,
    client: Any = None,
    signer: Signer | str | None = CONFIGURED,
    anchor: str | None = None,
    anchor_client: Any = None,
) -> PutResult:
    """Write ``record`` once; an existing object with the same key is left untouched. With a
    ``signer`` (by default the configured key) its checkpoint goes next to it and to ``anchor``."""
    s3 = _boto3_client(client)
    key, body, digest = object_for(record, "s3", bucket, prefix)
    created = _put_s3_bytes(s3, bucket, key, body)
    result = PutResult(f"s3://{bucket}/{key}", digest, created)
    signer_ = _signer(signer)
    if signer_ is None:
        return result
    cp = object_checkpoint(signer_, digest, record.run_id)
    _put_s3_bytes(s3, bucket, _checkpoint_key(key), cp)
    anchored = _anchor_checkpoint(record, digest, cp, anchor, anchor_client or client)
    return attrs.evolve(result, checkpoint=f"s3://{bucket}/{_checkpoint_key(key)}", anchored=anchored)


def iter_s3(
    bucket: str,
    prefix: str = "",
    *,
    run_id: str | None = None,
    client: Any = None,
    versions: bool = False,
    checkpoints: bool = False,
) -> Iterator[CloudObject]:
    """Record objects under ``<prefix>/lineage/`` (or one run's directory), and their checkpoint
    objects with ``checkpoints``. ``versions``: every version of every object, with its Object
    Lock retention (for a write-once anchor, where a delete only hides a locked version behind a
    delete marker)."""
    s3 = _boto3_client(client)
    if run_id is not None:
        list_prefix = _run_dir("s3", bucket, prefix, run_id)[0] + "/"
    else:
        list_prefix = "/".join(p for p in (prefix.strip("/"), "lineage") if p) + "/"
    if not versions:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=list_prefix):
            for item in page.get("Contents", []):
                if not checkpoints and _is_checkpoint(item["Key"]):
                    continue
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                yield CloudObject(f"s3://{bucket}/{item['Key']}", body)
        return
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=list_prefix):
        for item in page.get("Versions", []):
            if not checkpoints and _is_checkpoint(item["Key"]):
                continue
            resp = s3.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            until = resp.get("ObjectLockRetainUntilDate")
            locked = str(until.isoformat() if hasattr(until, "isoformat") else until) if until else None
            if resp.get("ObjectLockMode") not in _LOCK_MODES:
                locked = None
            yield CloudObject(f"s3://{bucket}/{item['Key']}", resp["Body"].read(), locked)


def check_s3_anchor(location: str, *, client: Any = None) -> str:
    """Why ``s3://bucket/prefix`` is not a write-once anchor ('' when it is): Object Lock must be
    enabled with a default retention, so that every checkpoint written there is locked."""
    scheme, bucket, _ = _split(location)
    if scheme != "s3" or not bucket:
        return f"{location}: expected s3://bucket[/prefix]"
    try:
        conf = _boto3_client(client).get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except Exception as exc:
        return f"{location}: bucket has no Object Lock configuration ({exc})"
    retention = conf.get("Rule", {}).get("DefaultRetention", {})
    if conf.get("ObjectLockEnabled") != "Enabled" or retention.get("Mode") not in _LOCK_MODES:
        return f"{location}: Object Lock must be enabled with a default retention (COMPLIANCE mode for audits)"
    return ""


def _gcs_client(client: Any) -> Any:
    if client is not None:
        return client
    return importlib.import_module("google.cloud.storage").Client()


def _put_gcs_bytes(gcs: Any, bucket: str, key: str, body: bytes) -> bool:
    try:
        gcs.bucket(bucket).blob(key).upload_from_string(body, content_type="application/json", if_generation_match=0)
    except Exception as exc:
        if type(exc).__name__ == "PreconditionFailed" or getattr(exc, "code", None) == 412:
            return False
        raise
    return True


def put_gcs(
    record: LineageRecord,
    bucket: str,
    prefix: str = "",
    *,
    client: Any = None,
    signer: Signer | str | None = CONFIGURED,
    anchor: str | None = None,
    anchor_client: Any = None,
) -> PutResult:
    """Write ``record`` once with ``if_generation_match=0`` (create-only), and its checkpoint."""
    gcs = _gcs_client(client)
    key, body, digest = object_for(record, "gs", bucket, prefix)
    result = PutResult(f"gs://{bucket}/{key}", digest, _put_gcs_bytes(gcs, bucket, key, body))
    signer_ = _signer(signer)
    if signer_ is None:
        return result
    cp = object_checkpoint(signer_, digest, record.run_id)
    _put_gcs_bytes(gcs, bucket, _checkpoint_key(key), cp)
    anchored = _anchor_checkpoint(record, digest, cp, anchor, anchor_client or client)
    return attrs.evolve(result, checkpoint=f"gs://{bucket}/{_checkpoint_key(key)}", anchored=anchored)


def iter_gcs(
    bucket: str, prefix: str = "", *, run_id: str | None = None, client: Any = None, checkpoints: bool = False
) -> Iterator[CloudObject]:
    gcs = _gcs_client(client)
    if run_id is not None:
        list_prefix = _run_dir("gs", bucket, prefix, run_id)[0] + "/"
    else:
        list_prefix = "/".join(p for p in (prefix.strip("/"), "lineage") if p) + "/"
    for blob in gcs.list_blobs(bucket, prefix=list_prefix):
        if not checkpoints and _is_checkpoint(blob.name):
            continue
        yield CloudObject(f"gs://{bucket}/{blob.name}", blob.download_as_bytes())


def _is_checkpoint(uri: str) -> bool:
    parts = uri.rsplit("/", 2)
    return len(parts) == 3 and parts[-2] == _CHECKPOINTS


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


@attrs.frozen
class _Checkpoint:
    uri: str
    record: str
    run_id: str
    key_id: str
    alg: str
    signature: bytes
    message: bytes
    locked_until: str | None


def _check_checkpoint(obj: CloudObject) -> _Checkpoint:
    """The checkpoint an object holds, if it is one and its key names the record it signs."""
    data = json.loads(obj.body)
    if not isinstance(data, dict) or canonical_bytes(data) != obj.body:
        raise ValueError("checkpoint is not canonical JSON")
    keys = {"alg", "key_id", "record", "run_id", "sig", "time", "type"}
    if data.get("type") != OBJECT_CHECKPOINT_TYPE or set(data) != keys:
        raise ValueError(f"not a {OBJECT_CHECKPOINT_TYPE}")
    if not all(isinstance(data[k], str) for k in keys) or data["alg"] not in ALGORITHMS:
        raise ValueError("checkpoint fields have the wrong types")
    if obj.uri.rsplit("/", 1)[-1] != f"{data['record']}.json" or not _HEX64.match(data["record"]):
        raise ValueError("checkpoint key does not name the record it signs")
    if obj.uri.rsplit("/", 3)[-3] != quote(data["run_id"], safe=""):
        raise ValueError("checkpoint's run_id does not match its key")
    try:
        sig = base64.b64decode(data["sig"], validate=True)
    except ValueError:
        raise ValueError("checkpoint signature is not base64") from None
    return _Checkpoint(
        obj.uri,
        data["record"],
        data["run_id"],
        data["key_id"],
        data["alg"],
        sig,
        signed_message(data),
        obj.locked_until,
    )


def _locked(cp: _Checkpoint, now: str) -> bool:
    return cp.locked_until is not None and cp.locked_until.replace("+00:00", "Z") > now


def pull(
    objects: Iterable[CloudObject],
    log: LineageLog,
    *,
    key: PublicKey | Keyring | None = None,
    anchor: Iterable[CloudObject] | None = None,
    anchor_retention: bool = True,
) -> PullResult:
    """Verify each object (hash == key) and append the new ones to ``log`` in event order.

    With ``key`` (one public key, or the keys of a rotation), a record is accepted only with a
    checkpoint signed by one of them (from ``anchor`` when given, else the one next to it). With
    ``anchor`` (the objects of a write-once copy of the checkpoints), every anchored checkpoint
    must be under retention (``anchor_retention``: S3 Object Lock) and must find its record: one
    deleted from the run's bucket is reported missing.
    """
    keys = keyring(key)
    present = {origin_hash(rec) for rec, _ in log.records()}
    records: dict[str, tuple[str, LineageRecord]] = {}
    beside: list[CloudObject] = []
    rejected: list[tuple[str, str]] = []
    for obj in objects:
        if _is_checkpoint(obj.uri):
            beside.append(obj)
            continue
        try:
            record = _check_object(obj)
        except ValueError as exc:
            rejected.append((obj.uri, str(exc)))
            continue
        records.setdefault(hashlib.sha256(obj.body).hexdigest(), (obj.uri, record))
    by_record: dict[str, list[_Checkpoint]] = {}
    missing: list[tuple[str, str]] = []
    now = utcnow()
    for obj in beside if anchor is None else anchor:
        if not _is_checkpoint(obj.uri):
            continue
        try:
            cp = _check_checkpoint(obj)
        except ValueError as exc:
            (missing if anchor is not None else rejected).append((obj.uri, str(exc)))
            continue
        if anchor is not None and anchor_retention and not _locked(cp, now):
            missing.append((obj.uri, "checkpoint in the anchor is not under Object Lock retention"))
            continue
        by_record.setdefault(cp.record, []).append(cp)
    verified = unchecked = 0
    used: dict[str, None] = {}
    accepted: dict[str, LineageRecord] = {}
    for digest, (uri, record) in records.items():
        cps = [c for c in by_record.get(digest, []) if c.run_id == record.run_id]
        if keys is not None:
            good = [c for c in cps if _verifies(keys, c)]
            if not good:
                rejected.append((uri, _unsigned(cps, keys, "in the anchor" if anchor is not None else "next to it")))
                continue
            used.setdefault(good[0].key_id)
            verified += 1
        else:
            unchecked += len(cps)
        accepted[digest] = record
    if anchor is not None:
        for digest, cps in by_record.items():
            signed = [c for c in cps if keys is None or keys.get(c.key_id) is not None]
            if signed and digest not in records:
                missing.append((signed[0].uri, "the anchored record is missing from the run's objects"))
    new = {d: r for d, r in accepted.items() if d not in present}
    for record in sorted(new.values(), key=_event_time):
        log.append(record)
    log.flush()
    return PullResult(
        appended=len(new),
        skipped=len(accepted) - len(new),
        rejected=tuple(rejected),
        verified=verified,
        unchecked=unchecked,
        missing=tuple(missing),
        key_ids=tuple(used),
    )


def _verifies(keys: Keyring, cp: _Checkpoint) -> bool:
    public = keys.get(cp.key_id)
    return public is not None and public.verify(cp.alg, cp.signature, cp.message)


def _unsigned(cps: list[_Checkpoint], keys: Keyring, where: str) -> str:
    """Why no checkpoint of a record counts: none, or signed by keys not given (named), or forged."""
    trusted = "the trusted key" if len(keys) == 1 else "a trusted key"
    others = sorted({c.key_id for c in cps if keys.get(c.key_id) is None})
    if others:
        return f"no checkpoint signed with {trusted} {where}; signed by key {', '.join(others)}, not a trusted key"
    if cps:
        return f"no checkpoint signed with {trusted} {where}; the signature does not verify"
    return f"no checkpoint signed with {trusted} {where}"


def _put_file_bytes(path: Path, body: bytes) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        return False
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def put_dir(
    record: LineageRecord,
    root: str | os.PathLike[str],
    prefix: str = "",
    *,
    signer: Signer | str | None = CONFIGURED,
    anchor: str | None = None,
    anchor_client: Any = None,
) -> PutResult:
    """Write ``record`` once under a directory (a local run root, or a bucket mounted as files,
    e.g. Vertex's ``/gcs/``); ``O_EXCL`` plays the part of the conditional put."""
    base = Path(root)
    key, body, digest = object_for(record, "file", str(base.absolute()).strip("/"), prefix)
    path = base / key
    result = PutResult(str(path), digest, _put_file_bytes(path, body))
    signer_ = _signer(signer)
    if signer_ is None:
        return result
    cp = object_checkpoint(signer_, digest, record.run_id)
    cp_path = base / _checkpoint_key(key)
    _put_file_bytes(cp_path, cp)
    anchored = _anchor_checkpoint(record, digest, cp, anchor, anchor_client)
    return attrs.evolve(result, checkpoint=str(cp_path), anchored=anchored)


def iter_dir(
    root: str | os.PathLike[str], prefix: str = "", *, run_id: str | None = None, checkpoints: bool = False
) -> Iterator[CloudObject]:
    base = Path(root) / prefix.strip("/") / "lineage"
    if run_id is not None:
        base = base / quote(run_id, safe="")
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        if checkpoints or not _is_checkpoint(str(path)):
            yield CloudObject(str(path), path.read_bytes())


def _split(uri: str) -> tuple[str, str, str]:
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    return scheme, bucket, prefix


def put(
    record: LineageRecord,
    location: str,
    *,
    client: Any = None,
    signer: Signer | str | None = CONFIGURED,
    anchor: str | None = None,
    anchor_client: Any = None,
) -> PutResult:
    """Write ``record`` under ``location``: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or a directory."""
    extra: dict[str, Any] = {"signer": signer, "anchor": anchor, "anchor_client": anchor_client}
    if "://" in location and not location.startswith("file://"):
        scheme, bucket, prefix = _split(location)
        if scheme == "s3":
            return put_s3(record, bucket, prefix, client=client, **extra)
        if scheme == "gs":
            return put_gcs(record, bucket, prefix, client=client, **extra)
        raise ValueError(f"unsupported lineage location {location!r}")
    return put_dir(record, location.removeprefix("file://"), **extra)


def iter_location(
    location: str,
    *,
    run_id: str | None = None,
    client: Any = None,
    versions: bool = False,
    checkpoints: bool = False,
) -> Iterator[CloudObject]:
    """The record objects under ``location`` (see :func:`put`), and their checkpoints with
    ``checkpoints``; ``versions`` (S3): every version, with its Object Lock retention."""
    if "://" in location and not location.startswith("file://"):
        scheme, bucket, prefix = _split(location)
        if scheme == "s3":
            return iter_s3(bucket, prefix, run_id=run_id, client=client, versions=versions, checkpoints=checkpoints)
        if scheme == "gs":
            return iter_gcs(bucket, prefix, run_id=run_id, client=client, checkpoints=checkpoints)
        raise ValueError(f"unsupported lineage location {location!r}")
    return iter_dir(location.removeprefix("file://"), run_id=run_id, checkpoints=checkpoints)
