"""Auditor bundles: a contiguous, still-chained slice of the log plus a manifest and a verifier."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any, Final

from typedflow._version import __version__
from typedflow.lineage._chain import LineageIntegrityError, iter_raw_lines
from typedflow.lineage.record import GENESIS_HASH, now_rfc3339
from typedflow.lineage.verify import MANIFEST, RECORDS, verify_log

__all__ = ["BUNDLE_FORMAT", "VERIFIER", "export_bundle", "verifier_source"]

BUNDLE_FORMAT: Final = "typedflow-lineage-bundle/1"
VERIFIER: Final = "verify_bundle.py"
_RUN_MARK: Final = b'"run_id":"'


def _run_id(line: bytes) -> str:
    # Keys are sorted and only scalars follow run_id, so its last occurrence is the top-level one.
    i = line.rfind(_RUN_MARK) + len(_RUN_MARK)
    return line[i : line.index(b'"', i)].decode()


def verifier_source() -> bytes:
    """The standard-library-only verifier shipped inside the package."""
    return resources.files("typedflow.lineage").joinpath(VERIFIER).read_bytes()


def export_bundle(
    log_path: str | os.PathLike[str], out: str | os.PathLike[str], *, run_ids: Collection[str] | None = None
) -> dict[str, Any]:
    """Write a bundle directory (or ``.zip`` if ``out`` ends so) and return its manifest.

    ``records.jsonl`` is the byte-exact contiguous range of the log from the first to the last
    record of the selected runs (``run_ids=None``: the whole log). Records of other runs inside
    that range are kept, since dropping them would break the chain; ``first_prev_hash`` anchors
    the range to the record before it, so the bundle verifies without the rest of the log and
    its head can be compared with the live log's record at ``last_seq``.
    """
    log_path = Path(log_path)
    out = Path(out)
    check = verify_log(log_path)
    if not check.ok:
        raise LineageIntegrityError(f"{log_path}: {check.summary()}")
    wanted = None if run_ids is None else set(run_ids)
    first = last = -1
    first_off = end_off = 0
    first_prev = GENESIS_HASH
    prev_hash = GENESIS_HASH
    head_hash = GENESIS_HASH
    for index, (offset, line) in enumerate(iter_raw_lines(log_path)):
        if index >= check.count:
            break
        digest = hashlib.sha256(line).hexdigest()
        run = _run_id(line)
        if wanted is None or run in wanted:
            if first < 0:
                first, first_off, first_prev = index, offset, prev_hash
            last, end_off, head_hash = index, offset + len(line) + 1, digest
        prev_hash = digest
    if wanted is not None and first < 0:
        raise ValueError(f"no records for run(s): {', '.join(sorted(wanted))}")
    if first < 0:
        first, last = 0, -1
    with open(log_path, "rb") as f:
        f.seek(first_off)
        records = f.read(end_off - first_off)
    runs = {_run_id(line) for line in records.split(b"\n")[:-1]}
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "count": last - first + 1,
        "first_seq": first,
        "last_seq": last,
        "first_prev_hash": first_prev,
        "head_hash": head_hash if last >= 0 else first_prev,
        "records_sha256": hashlib.sha256(records).hexdigest(),
        "created_at": now_rfc3339(),
        "typedflow_version": __version__,
        "selected_runs": sorted(wanted) if wanted is not None else None,
        "runs_in_range": sorted(runs),
        "source_log": str(log_path.absolute()),
        "source_head": {"seq": check.count - 1, "hash": check.head_hash},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    verifier = verifier_source()
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(RECORDS, records)
            zf.writestr(MANIFEST, manifest_bytes)
            zf.writestr(VERIFIER, verifier)
    else:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not empty")
        out.mkdir(parents=True, exist_ok=True)
        (out / RECORDS).write_bytes(records)
        (out / MANIFEST).write_bytes(manifest_bytes)
        (out / VERIFIER).write_bytes(verifier)
    return manifest
