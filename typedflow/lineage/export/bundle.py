"""Auditor bundles: a contiguous, still-chained slice of the log, the checkpoints that sign it, a
manifest (signed when a key is configured) and the standard-library verifier."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any, Final

from typedflow._version import __version__
from typedflow.lineage._chain import LineageIntegrityError, iter_raw_lines
from typedflow.lineage.log import CONFIGURED
from typedflow.lineage.record import GENESIS_HASH, now_rfc3339
from typedflow.lineage.signing import Signer, configured_signer, manifest_signature
from typedflow.lineage.verify import MANIFEST, RECORDS, verify_log
from typedflow.lineage.verify_bundle import BUNDLE_FORMATS, Checkpoint, parse_checkpoints
from typedflow.lineage.verify_bundle import CHECKPOINTS as _CHECKPOINTS
from typedflow.lineage.verify_bundle import SIGNATURE as _SIGNATURE
from typedflow.lineage.verify_bundle import VERIFIER as _VERIFIER
from typedflow.runtime.atomic import write_bytes

__all__ = ["BUNDLE_FORMAT", "VERIFIER", "export_bundle", "verifier_source"]

CHECKPOINTS: Final = _CHECKPOINTS
SIGNATURE: Final = _SIGNATURE

BUNDLE_FORMAT: Final = BUNDLE_FORMATS[-1]
VERIFIER: Final = _VERIFIER
_RUN_MARK: Final = b'"run_id":"'


def _run_id(line: bytes) -> str:
    # Keys are sorted and only scalars follow run_id, so its last occurrence is the top-level one.
    i = line.rfind(_RUN_MARK) + len(_RUN_MARK)
    return line[i : line.index(b'"', i)].decode()


def verifier_source() -> bytes:
    """The standard-library-only verifier shipped inside the package."""
    return resources.files("typedflow.lineage").joinpath(VERIFIER).read_bytes()


def _member(name: str) -> zipfile.ZipInfo:
    # Stored, with fixed metadata: every byte of the zip is content the manifest covers or
    # structure with one allowed value, which the verifier checks (compress the zip to send it).
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    return info


def _log_checkpoints(log_path: Path) -> list[tuple[Checkpoint, bytes]]:
    """The log's checkpoints with their exact lines (verify_log has checked them)."""
    path = log_path.with_name(log_path.name + ".checkpoints")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")[:-1]
    parsed, _ = parse_checkpoints(b"".join(line + b"\n" for line in lines), path.name, exact=True)
    return list(zip(parsed, lines, strict=True))


def export_bundle(
    log_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    run_ids: Collection[str] | None = None,
    signer: Signer | str | None = CONFIGURED,
) -> dict[str, Any]:
    """Write a bundle directory (or ``.zip`` if ``out`` ends so) and return its manifest.

    ``records.jsonl`` is the byte-exact contiguous range of the log from the first to the last
    record of the selected runs (``run_ids=None``: the whole log), extended to the end of the
    checkpoint that signs the last one, so every checkpoint in the bundle can be checked against
    it. Records of other runs inside that range are kept, since dropping them would break the
    chain; ``first_prev_hash`` anchors the range to the record before it, so the bundle verifies
    without the rest of the log and its head can be compared with the live log's record at
    ``last_seq``. With a ``signer`` (by default the configured key) the manifest is signed.
    """
    log_path = Path(log_path)
    out = Path(out)
    signer_: Signer | None = configured_signer() if isinstance(signer, str) else signer
    check = verify_log(log_path)
    if not check.ok:
        raise LineageIntegrityError(f"{log_path}: {check.summary()}")
    checkpoints = _log_checkpoints(log_path)
    wanted = None if run_ids is None else set(run_ids)
    first = last = -1
    first_prev = GENESIS_HASH
    prev_hash = GENESIS_HASH
    for index, (_, line) in enumerate(iter_raw_lines(log_path)):
        if index >= check.count:
            break
        if wanted is None or _run_id(line) in wanted:
            if first < 0:
                first, first_prev = index, prev_hash
            last = index
        if first < 0:
            prev_hash = hashlib.sha256(line).hexdigest()
    if wanted is not None and first < 0:
        raise ValueError(f"no records for run(s): {', '.join(sorted(wanted))}")
    if first < 0:
        first, last = 0, -1
    # The checkpoint that signs the last record names a later head: include up to it.
    last = max([last] + [cp.seq for cp, _ in checkpoints if cp.start <= last <= cp.seq and cp.seq < check.count])
    first_off = end_off = 0
    head_hash = first_prev
    for index, (offset, line) in enumerate(iter_raw_lines(log_path)):
        if index > last:
            break
        if index == first:
            first_off = offset
        if index >= first:
            end_off, head_hash = offset + len(line) + 1, hashlib.sha256(line).hexdigest()
    with open(log_path, "rb") as f:
        f.seek(first_off)
        records = f.read(end_off - first_off)
    runs = {_run_id(line) for line in records.split(b"\n")[:-1]}
    included = [(cp, line) for cp, line in checkpoints if first <= cp.seq <= last]
    signed = b"".join(line + b"\n" for _, line in included)
    verifier = verifier_source()
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "count": last - first + 1,
        "first_seq": first,
        "last_seq": last,
        "first_prev_hash": first_prev,
        "head_hash": head_hash,
        "records_sha256": hashlib.sha256(records).hexdigest(),
        "checkpoints": len(included),
        "checkpoints_sha256": hashlib.sha256(signed).hexdigest(),
        "checkpoint_key_ids": sorted({cp.key_id for cp, _ in included}),
        "verifier_sha256": hashlib.sha256(verifier).hexdigest(),
        "key_id": signer_.key_id if signer_ is not None else None,
        "created_at": now_rfc3339(),
        "typedflow_version": __version__,
        "selected_runs": sorted(wanted) if wanted is not None else None,
        "runs_in_range": sorted(runs),
        "source_log": str(log_path.absolute()),
        "source_head": {"seq": check.count - 1, "hash": check.head_hash},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    members = [(RECORDS, records), (CHECKPOINTS, signed), (MANIFEST, manifest_bytes), (VERIFIER, verifier)]
    if signer_ is not None:
        members.append((SIGNATURE, manifest_signature(signer_, manifest_bytes)))
    if out.suffix == ".zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members:
                zf.writestr(_member(name), data)
        # never a half-written bundle under the name given, and a temp file of its own (not a fixed
        # name next to it, which could be someone's file or a link planted there)
        try:
            write_bytes(out, buf.getvalue())
        except OSError as exc:  # said of the bundle asked for, not of its temp file
            raise OSError(exc.errno, exc.strerror, str(out)) from None
    else:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not empty")
        out.mkdir(parents=True, exist_ok=True)
        for name, data in members:
            (out / name).write_bytes(data)
    return manifest
