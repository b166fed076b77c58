"""Verify a lineage log or bundle: every line, the hash chain, and the head it must end at."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, Final

import attrs

from typedflow.canonical import canonical_bytes
from typedflow.lineage._chain import PREV_MARK, SEQ_MARK, Head, line_fields, read_head
from typedflow.lineage.record import GENESIS_HASH, record_from_dict

__all__ = ["Failure", "VerifyResult", "verify_bundle", "verify_log", "verify_path"]

_BLOCK: Final = 1 << 24
_P0: Final = len(PREV_MARK)  # prev_hash value spans [i + _P0, i + _P1), then its closing quote
_P1: Final = _P0 + 64
_RECORD_ID: Final = b'"record_id":"'
MANIFEST: Final = "manifest.json"
RECORDS: Final = "records.jsonl"


@attrs.frozen
class Failure:
    """The first offending record and why: edited, deleted, reordered, inserted, truncated, ..."""

    reason: str
    line: int  # 1-based line in the records file; count + 1 for records missing at the end
    seq: int | None
    record_id: str | None
    detail: str

    def describe(self) -> str:
        where = f"line {self.line}"
        if self.seq is not None:
            where += f", seq {self.seq}"
        if self.record_id:
            where += f", record {self.record_id}"
        return f"{self.reason} ({where}): {self.detail}"


@attrs.frozen
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    first_seq: int = 0
    failure: Failure | None = None
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} records, head {self.head_hash}"
        assert self.failure is not None
        return f"FAIL: {self.failure.describe()}"


@attrs.define
class _Scan:
    count: int = 0
    last_hash: str = GENESIS_HASH
    bad_index: int | None = None  # 0-based line index where a check first failed
    bad_detail: str = ""
    fragment: bytes = b""  # bytes after the last newline
    watched_hash: str | None = None
    file_sha256: str = ""


def _scan(
    stream: IO[bytes],
    *,
    first_seq: int,
    first_prev: str,
    deep: bool,
    watch_seq: int | None,
    file_digest: bool = False,
) -> _Scan:
    """One pass over raw lines: hash each, check seq and prev_hash, optionally re-encode."""
    sha = hashlib.sha256
    whole = sha()
    prev = first_prev.encode("ascii")
    seq = first_seq
    index = 0
    watched: str | None = None
    rest = b""
    result = _Scan()
    while True:
        block = stream.read(_BLOCK)
        if not block:
            break
        if file_digest:
            whole.update(block)
        lines = (rest + block).split(b"\n") if rest else block.split(b"\n")
        rest = lines.pop()
        if result.bad_index is not None:
            if not file_digest:
                break
            continue  # keep hashing the file for its digest; the diagnosis rereads it
        for line in lines:
            i = line.rfind(PREV_MARK)
            if i < 0 or line[i + _P0 : i + _P1] != prev or line[i + _P1 : i + _P1 + 1] != b'"':
                result.bad_index, result.bad_detail = index, "prev_hash does not match the previous line"
                break
            j = line.rfind(SEQ_MARK)
            if j < 0 or not line.startswith(b',"seq":%d,' % seq, j):
                result.bad_index, result.bad_detail = index, f"expected seq {seq}"
                break
            if deep:
                problem = _deep_problem(line)
                if problem:
                    result.bad_index, result.bad_detail = index, problem
                    break
            digest = sha(line).hexdigest()
            if seq == watch_seq:
                watched = digest
            prev = digest.encode("ascii")
            seq += 1
            index += 1
    result.count = index
    result.last_hash = prev.decode("ascii")
    result.fragment = rest
    result.watched_hash = watched
    result.file_sha256 = whole.hexdigest() if file_digest else ""
    return result


def _deep_problem(line: bytes) -> str:
    try:
        data = json.loads(line)
    except ValueError as exc:
        return f"line does not parse: {exc}"
    try:
        if canonical_bytes(data) != line:
            return "line is not the canonical JSON of its record"
        record_from_dict(data)
    except ValueError as exc:
        return f"not a valid record: {exc}"
    return ""


_Opener = Callable[[], AbstractContextManager[IO[bytes]]]


@attrs.frozen
class _Line:
    seq: int | None
    prev: str | None
    hash: str
    record_id: str | None


def _record_id(raw: bytes) -> str | None:
    # The last occurrence is the top-level key: only scalars follow it in canonical order.
    i = raw.rfind(_RECORD_ID)
    if i < 0:
        return None
    start = i + len(_RECORD_ID)
    end = raw.find(b'"', start)
    return raw[start:end].decode("utf-8", "replace") if end > 0 else None


def _read_lines(stream: IO[bytes]) -> list[_Line]:
    out: list[_Line] = []
    data = stream.read()
    parts = data.split(b"\n")
    parts.pop()
    for raw in parts:
        seq: int | None
        prev: str | None
        try:
            seq, prev = line_fields(raw)
        except ValueError:
            seq, prev = None, None
        out.append(_Line(seq, prev, hashlib.sha256(raw).hexdigest(), _record_id(raw)))
    return out


def _diagnose(lines: list[_Line], i: int, first_seq: int, first_prev: str, head: Head | None, detail: str) -> Failure:
    """Classify the first broken link at index ``i`` using the whole file."""

    def fail(reason: str, k: int, why: str) -> Failure:
        ln = lines[k]
        return Failure(reason=reason, line=k + 1, seq=ln.seq, record_id=ln.record_id, detail=why)

    def link_ok(k: int) -> bool:
        """Whether line k is chained to its predecessor."""
        return lines[k].prev == (lines[k - 1].hash if k > 0 else first_prev)

    def successor_ok(k: int) -> bool:
        """Whether the record after line k (or the head) still names line k."""
        if k + 1 < len(lines):
            return lines[k + 1].prev == lines[k].hash
        return head is None or head.hash == lines[k].hash

    cur = lines[i]
    expected_seq = first_seq + i
    if cur.seq is None or cur.prev is None:
        return fail("edited", i, "line is not a lineage record (" + detail + ")")
    if link_ok(i):
        if cur.seq != expected_seq:
            return fail("edited", i, f"seq field changed: expected {expected_seq}, found {cur.seq}")
        return fail("edited", i, detail)  # the deep check failed on an otherwise chained line
    by_hash = {ln.hash: k for k, ln in enumerate(lines)}
    if i > 0 and cur.prev == lines[i - 1].prev:
        # Two records claim the same predecessor: one was inserted. The genuine one is still
        # named by its successor.
        forged = i - 1 if successor_ok(i) else i
        return fail("inserted", forged, "record is not part of the chain (a forged record with its own hash)")
    target = by_hash.get(cur.prev)
    if target is not None:
        if target > i:
            return fail("reordered", i, f"its predecessor is line {target + 1}, found later in the file")
        if target < i - 1:
            return fail(
                "inserted",
                target + 1,
                f"line(s) {target + 2}..{i} sit between line {target + 1} and the record chained to it",
            )
    if cur.seq > expected_seq:
        missing = f"seq {expected_seq}" if cur.seq == expected_seq + 1 else f"seqs {expected_seq}..{cur.seq - 1}"
        return fail("deleted", i, f"{missing} missing before this record")
    if cur.seq < expected_seq:
        return fail("reordered", i, f"seq {cur.seq} appears where seq {expected_seq} belongs")
    if not successor_ok(i):
        return fail("edited", i, "record bytes changed (its hash is no longer what the chain names)")
    if i == 0:
        return fail("edited", i, "first record does not start from the expected anchor")
    return fail("edited", i - 1, "record bytes changed (its hash is no longer what the next record names)")


def _fragment_failure(count: int, first_seq: int, fragment: bytes, reason: str, detail: str) -> Failure:
    return Failure(reason, count + 1, first_seq + count, _record_id(fragment), detail)


def _check(
    open_records: _Opener,
    *,
    first_seq: int,
    first_prev: str,
    head: Head | None,
    deep: bool,
    head_label: str,
    exact: bool,
    file_digest: bool = False,
) -> tuple[VerifyResult, _Scan]:
    """Scan, then check the end against the head. ``exact`` (bundles): nothing may follow the head."""
    watch = head.seq if head is not None else None
    with open_records() as stream:
        scan = _scan(
            stream, first_seq=first_seq, first_prev=first_prev, deep=deep, watch_seq=watch, file_digest=file_digest
        )
    if scan.bad_index is not None:
        with open_records() as stream:
            lines = _read_lines(stream)
        diagnosed = _diagnose(lines, scan.bad_index, first_seq, first_prev, head, scan.bad_detail)
        return VerifyResult(False, scan.count, scan.last_hash, first_seq, diagnosed), scan
    last_seq = first_seq + scan.count - 1
    warnings: list[str] = []
    failure: Failure | None = None
    if head is None:
        if scan.count:
            failure = Failure(
                "head-missing", scan.count, last_seq, None, f"no {head_label}: a truncated tail cannot be ruled out"
            )
    elif head.count != head.seq - first_seq + 1:
        failure = Failure("head-mismatch", scan.count, head.seq, None, f"{head_label} is inconsistent")
    elif head.seq > last_seq:
        n = head.seq - last_seq
        failure = _fragment_failure(
            scan.count,
            first_seq,
            scan.fragment,
            "truncated",
            f"{n} record(s) up to seq {head.seq} named by the {head_label} are missing",
        )
    elif head.seq == last_seq:
        if head.hash != scan.last_hash:
            failure = Failure("edited", scan.count, last_seq, None, f"last record does not match the {head_label}")
    elif scan.watched_hash != head.hash:
        failure = Failure("edited", head.seq - first_seq + 1, head.seq, None, f"record does not match the {head_label}")
    elif exact:
        line = head.seq - first_seq + 2
        failure = Failure("inserted", line, head.seq + 1, None, f"records follow the last one the {head_label} names")
    else:
        warnings.append(
            f"{head_label} is {last_seq - head.seq} record(s) behind the log "
            "(records committed since the last head update, or a crash before it; the next flush or "
            "close rolls it forward)"
        )
    if failure is not None and failure.record_id is None and 1 <= failure.line <= scan.count:
        with open_records() as stream:
            named = _read_lines(stream)[failure.line - 1]
        failure = attrs.evolve(failure, record_id=named.record_id, seq=named.seq)
    if failure is None and scan.fragment:
        if exact:
            failure = _fragment_failure(
                scan.count, first_seq, scan.fragment, "truncated", "records file ends inside a line"
            )
        else:
            warnings.append(
                f"trailing partial line of {len(scan.fragment)} bytes (an interrupted write; "
                "reopening the log sets it aside)"
            )
    return (
        VerifyResult(failure is None, scan.count, scan.last_hash, first_seq, failure, tuple(warnings)),
        scan,
    )


def verify_log(path: str | Path, *, deep: bool = False, head: Head | None = None) -> VerifyResult:
    """Verify a log against its head file (or ``head``, e.g. one published elsewhere).

    The fast check hashes raw line bytes and reads ``seq``/``prev_hash`` without parsing the
    whole line: any changed byte breaks the chain at the next record or at the head. ``deep``
    also parses every line, re-encodes it canonically and type-checks the record.
    """
    path = Path(path)
    if head is None:
        try:
            head = read_head(path)
        except ValueError as exc:
            return VerifyResult(
                False, 0, GENESIS_HASH, 0, Failure("head-mismatch", 0, None, None, f"unreadable head: {exc}")
            )

    @contextmanager
    def open_records() -> Iterator[IO[bytes]]:
        with open(path, "rb") as f:
            yield f

    result, _ = _check(
        open_records,
        first_seq=0,
        first_prev=GENESIS_HASH,
        head=head,
        deep=deep,
        head_label="head file",
        exact=False,
    )
    return result


def _bundle_opener(path: Path) -> tuple[dict[str, Any], _Opener]:
    if path.is_dir():
        manifest = json.loads((path / MANIFEST).read_bytes())

        @contextmanager
        def open_dir() -> Iterator[IO[bytes]]:
            with open(path / RECORDS, "rb") as f:
                yield f

        return manifest, open_dir

    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read(MANIFEST))

    @contextmanager
    def open_zip() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as z, z.open(RECORDS) as f:
            yield f

    return manifest, open_zip


def verify_bundle(path: str | Path, *, deep: bool = True) -> VerifyResult:
    """Verify an exported bundle (directory or .zip) against its manifest."""
    path = Path(path)
    try:
        manifest, opener = _bundle_opener(path)
        first_seq = int(manifest["first_seq"])
        first_prev = str(manifest["first_prev_hash"])
        head = Head(seq=int(manifest["last_seq"]), hash=str(manifest["head_hash"]), count=int(manifest["count"]))
        expected_sha = str(manifest["records_sha256"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        return VerifyResult(False, 0, GENESIS_HASH, 0, Failure("malformed", 0, None, None, f"unreadable bundle: {exc}"))
    if head.count == 0:
        head = Head(seq=first_seq - 1, hash=first_prev, count=0)
    result, scan = _check(
        opener,
        first_seq=first_seq,
        first_prev=first_prev,
        head=head,
        deep=deep,
        head_label="manifest",
        exact=True,
        file_digest=True,
    )
    if result.ok and scan.file_sha256 != expected_sha:
        return attrs.evolve(
            result,
            ok=False,
            failure=Failure("manifest-mismatch", 0, None, None, "records.jsonl does not match the manifest's sha256"),
        )
    return result


def verify_path(path: str | Path, *, deep: bool = False) -> VerifyResult:
    """Verify a bundle directory, a bundle .zip, or a log file."""
    p = Path(path)
    if (p.is_dir() and (p / MANIFEST).exists()) or (p.is_file() and zipfile.is_zipfile(p)):
        return verify_bundle(p)
    return verify_log(p, deep=deep)
