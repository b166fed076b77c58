"""Verify a typedflow lineage bundle with the Python standard library only.

Usage: python verify_bundle.py BUNDLE_DIR_OR_ZIP

Checks that every line is the canonical JSON of its record, that seq runs on without gaps, that
each prev_hash is the sha256 of the previous line (the first one equals the manifest's
first_prev_hash), that the last line's hash is the manifest's head_hash, and that records.jsonl
matches the manifest's sha256. Prints "OK: N records, head H" (exit 0) or the first bad record
(exit 1).
Runs on Python 3.7 or later.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _load(path: Path) -> tuple[bytes, bytes]:
    if path.is_dir():
        return (path / "manifest.json").read_bytes(), (path / "records.jsonl").read_bytes()
    with zipfile.ZipFile(path) as zf:
        return zf.read("manifest.json"), zf.read("records.jsonl")


def verify(path: str) -> tuple[bool, str]:
    """Return (ok, message)."""
    manifest_bytes, records = _load(Path(path))
    manifest = json.loads(manifest_bytes)
    problem = _first_problem(manifest, records)
    if problem is not None:
        return False, "FAIL: " + problem
    # The chain holds together: the bytes must still be exactly the ones the manifest names.
    if hashlib.sha256(records).hexdigest() != manifest["records_sha256"]:
        return False, "FAIL: records.jsonl does not match the manifest's records_sha256"
    return True, "OK: {} records, head {}".format(manifest["count"], manifest["head_hash"])


def _first_problem(manifest: dict[str, Any], records: bytes) -> str | None:
    """The first offending record (or the file's end), or None when the chain is intact."""
    if records and not records.endswith(b"\n"):
        return "records.jsonl ends inside a line (truncated)"
    lines = records.split(b"\n")[:-1]
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError as exc:
            return f"line {number}: does not parse: {exc}"
        if not isinstance(record, dict):
            return f"line {number}: not a record"
        parsed.append(record)

    def where(index: int) -> str:
        rec = parsed[index]
        return f"line {index + 1} (seq {rec.get('seq')}, record {rec.get('record_id')})"

    prev = manifest["first_prev_hash"]
    seq = manifest["first_seq"]
    hashes = [hashlib.sha256(line).hexdigest() for line in lines]
    for i, line in enumerate(lines):
        record = parsed[i]
        if _canonical(record) != line:
            return f"{where(i)}: not canonical JSON (edited)"
        if record.get("seq") != seq:
            return f"{where(i)}: expected seq {seq} (deleted, inserted or reordered records)"
        if record.get("prev_hash") != prev:
            # If the next record still names this one, this one is genuine and its predecessor changed.
            genuine = i + 1 < len(lines) and parsed[i + 1].get("prev_hash") == hashes[i]
            if genuine and i > 0:
                return f"{where(i - 1)}: its hash is not the prev_hash of the next record (edited)"
            return f"{where(i)}: prev_hash does not match the previous record (edited or reordered)"
        prev = hashes[i]
        seq += 1
    if len(lines) != manifest["count"] or seq - 1 != manifest["last_seq"]:
        return f"bundle has {len(lines)} records, manifest says {manifest['count']} (records removed or added)"
    if prev != manifest["head_hash"]:
        return "last record does not match the manifest's head_hash (edited)"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python verify_bundle.py BUNDLE_DIR_OR_ZIP", file=sys.stderr)
        return 2
    try:
        ok, message = verify(argv[1])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        ok, message = False, f"FAIL: unreadable bundle: {exc!r}"
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
