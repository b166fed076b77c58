"""Tampering with a log in each way is caught, and the first offending record is named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedflow.ir.canonical import canonical_bytes
from typedflow.lineage import verify_log
from typedflow.lineage.record import record_from_bytes, record_line


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _record_id(line: bytes) -> str:
    return str(json.loads(line)["record_id"])


def test_intact_log_verifies(small_log) -> None:
    for deep in (False, True):
        result = verify_log(small_log, deep=deep)
        assert result.ok, result.summary()
        assert result.count == 20
        assert result.head_hash == hashlib.sha256(_lines(small_log)[-1]).hexdigest()
        assert result.summary() == f"OK: 20 records, head {result.head_hash}"


def test_empty_log_verifies(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"")
    assert verify_log(path).ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_flip_is_caught_and_named(small_log, data) -> None:
    original = small_log.read_bytes()
    lines = _lines(small_log)
    try:
        k = data.draw(st.integers(0, len(lines) - 1), label="record")
        pos = data.draw(st.integers(0, len(lines[k]) - 1), label="byte")
        flipped = bytearray(lines[k])
        flipped[pos] ^= data.draw(st.sampled_from([0x01, 0x02, 0x20, 0x40]), label="mask")
        if flipped[pos] == ord("\n"):
            flipped[pos] ^= 0x03
        edited = [*lines[:k], bytes(flipped), *lines[k + 1 :]]
        _write(small_log, edited)
        result = verify_log(small_log)
        assert not result.ok
        assert result.failure is not None
        assert result.failure.reason == "edited", result.summary()
        assert result.failure.line == k + 1, result.summary()
    finally:
        small_log.write_bytes(original)


def test_edited_record_is_named(small_log) -> None:
    lines = _lines(small_log)
    rec = record_from_bytes(lines[7])
    lines[7] = record_line(attrs.evolve(rec, status="failed"))
    _write(small_log, lines)
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.seq) == ("edited", 8, 7)
    assert result.failure.record_id == rec.record_id


def test_non_canonical_edit_is_caught(small_log) -> None:
    lines = _lines(small_log)
    # Same JSON value, different bytes: the chain (raw-byte hashes) still breaks.
    lines[4] = json.dumps(json.loads(lines[4]), separators=(", ", ": "), sort_keys=True).encode()
    _write(small_log, lines)
    for deep in (False, True):
        result = verify_log(small_log, deep=deep)
        assert not result.ok and result.failure is not None
        assert (result.failure.reason, result.failure.line) == ("edited", 5)


def test_non_canonical_writer_is_caught_by_deep_check(small_log) -> None:
    lines = _lines(small_log)
    # A consistent chain whose last line is not canonical JSON (e.g. a buggy writer).
    lines[-1] = (
        lines[-1]
        .replace(b'"user":"root"', b'"user":"\\u0072oot"')
        .replace(b'"target":"local"', b'"target":"\\u006cocal"')
    )
    assert json.loads(lines[-1]) == json.loads(_lines(small_log)[-1])
    _write(small_log, lines)
    head = {"count": 20, "hash": hashlib.sha256(lines[-1]).hexdigest(), "seq": 19}
    (small_log.parent / "log.jsonl.head").write_bytes(canonical_bytes(head))
    assert verify_log(small_log).ok
    result = verify_log(small_log, deep=True)
    assert not result.ok and result.failure is not None
    assert result.failure.line == 20 and "canonical" in result.failure.detail


def test_deleted_record_is_named(small_log) -> None:
    lines = _lines(small_log)
    removed = lines.pop(9)
    _write(small_log, lines)
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert result.failure.reason == "deleted"
    assert result.failure.line == 10 and result.failure.seq == 10  # the record after the gap
    assert "seq 9 missing" in result.failure.detail
    assert result.failure.record_id == _record_id(lines[9]) != _record_id(removed)


def test_swapped_records_are_named(small_log) -> None:
    lines = _lines(small_log)
    lines[5], lines[6] = lines[6], lines[5]
    _write(small_log, lines)
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.seq) == ("reordered", 6, 6)
    assert result.failure.record_id == _record_id(lines[5])


def test_inserted_forged_record_is_named(small_log, make_record) -> None:
    lines = _lines(small_log)
    # A forger copies the chain fields a genuine record would get and hashes the line itself.
    prev = hashlib.sha256(lines[11]).hexdigest()
    forged_rec = attrs.evolve(make_record(99, status="succeeded"), seq=12, prev_hash=prev)
    forged = record_line(forged_rec)
    lines.insert(12, forged)
    _write(small_log, lines)
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.seq) == ("inserted", 13, 12)
    assert result.failure.record_id == forged_rec.record_id


def test_inserted_record_with_arbitrary_chain_fields(small_log, make_record) -> None:
    lines = _lines(small_log)
    lines.insert(3, record_line(attrs.evolve(make_record(50), seq=3, prev_hash="f" * 64)))
    _write(small_log, lines)
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert result.failure.line == 4 and result.failure.reason in ("inserted", "edited")


def test_truncated_tail_is_caught(small_log) -> None:
    lines = _lines(small_log)
    _write(small_log, lines[:-3])
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.seq) == ("truncated", 18, 17)
    assert "3 record(s)" in result.failure.detail


def test_truncated_mid_record_names_the_cut_record(small_log) -> None:
    data = small_log.read_bytes()
    lines = _lines(small_log)
    small_log.write_bytes(data[:-60])  # a torn copy of the last record
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.seq) == ("truncated", 19)
    assert result.failure.record_id == _record_id(lines[-1])


def test_edited_last_record_is_caught_by_head(small_log) -> None:
    lines = _lines(small_log)
    rec = record_from_bytes(lines[-1])
    lines[-1] = record_line(attrs.evolve(rec, error="forged"))
    _write(small_log, lines)
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.record_id) == ("edited", 20, rec.record_id)


def test_published_head_overrides_head_file(small_log) -> None:
    from typedflow.lineage import Head

    lines = _lines(small_log)
    good = verify_log(small_log)
    assert verify_log(small_log, head=Head(19, good.head_hash, 20)).ok
    forged = Head(19, hashlib.sha256(lines[0]).hexdigest(), 20)
    assert not verify_log(small_log, head=forged).ok


def _edit_first(lines: list[bytes]) -> list[bytes]:
    return lines[1:]


def _swap_last(lines: list[bytes]) -> list[bytes]:
    return [*lines[:-2], lines[-1], lines[-2]]


def _forge_first(lines: list[bytes]) -> list[bytes]:
    forged = json.loads(lines[0])
    forged["record_id"] = "f" * 32
    return [canonical_bytes(forged), *lines]


@pytest.mark.parametrize(
    ("tamper", "reason", "line"),
    [(_edit_first, "deleted", 1), (_swap_last, "reordered", 19), (_forge_first, "inserted", 1)],
)
def test_tampering_at_the_edges(small_log, tamper, reason, line) -> None:
    _write(small_log, tamper(_lines(small_log)))
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line) == (reason, line), result.summary()
