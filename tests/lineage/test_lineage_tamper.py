"""Tampering as an attacker would: rewrite records *and* whatever vouches for them, then ask both
verifiers, with and without an anchor (the public key, a head recorded earlier).

Without an anchor a consistent rewrite cannot be told from the genuine article (the verifiers say
so in a warning); with one it fails. Both verifiers, typedflow's and an auditor's own copy of the
standard-library script under another Python, must give the same verdict, word for word.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedflow.lineage import LineageIntegrityError, LineageLog, verify_bundle, verify_log
from typedflow.lineage.export.bundle import export_bundle, verifier_source
from typedflow.lineage.record import record_line
from typedflow.lineage.signing import load_key_file
from typedflow.lineage.verify import verify_path
from typedflow.lineage.verify_bundle import PublicKey, canonical

MEMBER_ORDER = ("records.jsonl", "checkpoints.jsonl", "manifest.json", "verify_bundle.py", "manifest.sig")


def _write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A zip laid out exactly as typedflow writes bundles (what an attacker would imitate)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data)


def _read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rechain(lines: list[bytes], first_prev: str, first_seq: int) -> list[bytes]:
    out = []
    prev = first_prev
    for i, line in enumerate(lines):
        data = json.loads(line)
        data["prev_hash"], data["seq"] = prev, first_seq + i
        raw = canonical(data)
        out.append(raw)
        prev = _sha(raw)
    return out


@attrs.frozen
class Bundle:
    members: dict[str, bytes]

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.members["manifest.json"]))

    def records(self) -> list[bytes]:
        return _lines(self.members["records.jsonl"])

    def with_members(self, changes: dict[str, bytes]) -> Bundle:
        return Bundle({**self.members, **changes})

    def consistent(self, records: list[bytes], checkpoints: list[bytes] | None = None) -> Bundle:
        """The records (and checkpoints) with a manifest recomputed to match, as an attacker without
        the key would; the manifest signature is left as it was."""
        m = self.manifest
        cps = checkpoints if checkpoints is not None else _lines(self.members["checkpoints.jsonl"])
        body, cp_body = _join(records), _join(cps)
        m.update(
            count=len(records),
            last_seq=m["first_seq"] + len(records) - 1,
            head_hash=_sha(records[-1]),
            records_sha256=_sha(body),
            checkpoints=len(cps),
            checkpoints_sha256=_sha(cp_body),
            verifier_sha256=_sha(self.members["verify_bundle.py"]),
        )
        manifest = (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()
        return Bundle({**self.members, "records.jsonl": body, "checkpoints.jsonl": cp_body, "manifest.json": manifest})

    def write(self, path: Path) -> Path:
        _write_zip(path, [(n, self.members[n]) for n in MEMBER_ORDER if n in self.members])
        return path


@pytest.fixture(scope="module")
def auditor_python() -> list[str]:
    """Another Python, with cryptography but without typedflow, as an auditor would have."""
    base = [sys._base_executable, "-I"]  # type: ignore[attr-defined]  # not in typeshed
    ok = subprocess.run([*base, "-c", "import cryptography, sys; import typedflow"], capture_output=True)
    has_crypto = subprocess.run([*base, "-c", "import cryptography"], capture_output=True).returncode == 0
    if has_crypto and ok.returncode != 0:
        return base
    return [sys.executable, "-I"]


@pytest.fixture(scope="module")
def own_verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The auditor's own copy of the verifier, kept apart from any bundle."""
    path = tmp_path_factory.mktemp("auditor") / "verify_bundle.py"
    path.write_bytes(verifier_source())
    return path


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keypair) -> tuple[Bundle, str]:
    """A signed bundle of run b (between runs a and c), and its head as the auditor recorded it."""
    from typedflow.lineage import new_record

    tmp = tmp_path_factory.mktemp("signed")
    log = tmp / "log.jsonl"
    signer = load_key_file(keypair.key)
    with LineageLog(log, flush_every=4, fsync=False, signer=signer) as lg:
        for i in range(18):
            run = ("a" if i < 4 else "b" if i < 14 else "c") * 32
            lg.append(
                new_record(
                    "task",
                    run_id=run,
                    workflow="wf",
                    ir_digest="sha256:" + "a" * 64,
                    target="local",
                    executor="thread",
                    status="succeeded",
                    node_id=f"n{i}",
                    task="t",
                    parameters={"i": i},
                )
            )
    out = tmp / "b.zip"
    manifest = export_bundle(log, out, run_ids=["b" * 32], signer=signer)
    assert manifest["key_id"] == keypair.key_id and manifest["checkpoints"] >= 3
    return Bundle(_read_zip(out)), manifest["head_hash"]


def _forged(bundle: Bundle) -> bytes:
    last = json.loads(bundle.records()[-1])
    last.update(record_id="f" * 32, seq=last["seq"] + 1, prev_hash=_sha(bundle.records()[-1]), status="failed")
    return canonical(last)


def _edited(line: bytes) -> bytes:
    data = json.loads(line)
    data["status"] = "failed"
    return canonical(data)


def forged_append(b: Bundle, consistent: bool) -> Bundle:
    records = [*b.records(), _forged(b)]
    return b.consistent(records) if consistent else b.with_members({"records.jsonl": _join(records)})


def dropped_tail(b: Bundle, consistent: bool) -> Bundle:
    records = b.records()[:-2]
    if not consistent:
        return b.with_members({"records.jsonl": _join(records)})
    last = b.manifest["first_seq"] + len(records) - 1
    cps = [c for c in _lines(b.members["checkpoints.jsonl"]) if json.loads(c)["seq"] <= last]
    return b.consistent(records, cps)


def rewritten_history(b: Bundle, consistent: bool) -> Bundle:
    m = b.manifest
    records = b.records()
    records[2] = _edited(records[2])
    records = _rechain(records, m["first_prev_hash"], m["first_seq"])
    # the checkpoints no longer match the rewritten chain: a consistent attacker drops them
    return b.consistent(records, []) if consistent else b.with_members({"records.jsonl": _join(records)})


def replaced_verifier(b: Bundle, consistent: bool) -> Bundle:
    fake = b'print("OK: all good")\n'
    records = b.records()
    records[2] = _edited(records[2])
    if not consistent:
        return b.with_members({"records.jsonl": _join(records), "verify_bundle.py": fake})
    m = b.manifest
    return b.with_members({"verify_bundle.py": fake}).consistent(
        _rechain(records, m["first_prev_hash"], m["first_seq"]), []
    )


TAMPERS: dict[str, Callable[[Bundle, bool], Bundle]] = {
    "forged append": forged_append,
    "dropped tail": dropped_tail,
    "rewritten history": rewritten_history,
    "replaced verifier": replaced_verifier,
}


def _both(path: Path, own: Path, python: list[str], anchor: list[str]) -> tuple[str, str]:
    """The verdict line of ``typedflow lineage verify`` and of the auditor's own script."""
    from typedflow.lineage.verify_bundle import load_public_key, parse_trusted_head

    key = trusted = None
    if anchor and anchor[0] == "--public-key":
        key = load_public_key(anchor[1])
    elif anchor:
        trusted = parse_trusted_head(anchor[1])
    ours = verify_path(path, public_key=key, trusted_head=trusted).summary()
    done = subprocess.run([*python, str(own), str(path), *anchor], capture_output=True, text=True, timeout=60, env={})
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == (0 if done.stdout.startswith("OK") else 1), done.stdout
    return ours, done.stdout.strip()


@pytest.mark.parametrize("consistent", [False, True], ids=["naive", "consistent"])
@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tamper_matrix(tamper, consistent, signed, keypair, own_verifier, auditor_python, tmp_path) -> None:
    bundle, recorded_head = signed
    path = TAMPERS[tamper](bundle, consistent).write(tmp_path / "tampered.zip")
    verdicts = {}
    for name, anchor in (
        ("none", []),
        ("key", ["--public-key", str(keypair.pub)]),
        ("head", ["--trusted-head", recorded_head]),
    ):
        ours, theirs = _both(path, own_verifier, auditor_python, anchor)
        assert ours == theirs, (name, ours, theirs)  # the same verdict and the same line
        verdicts[name] = ours
    # With an anchor every tamper fails; without one only a naive one does.
    assert verdicts["key"].startswith("FAIL"), verdicts
    assert verdicts["head"].startswith("FAIL"), verdicts
    assert verdicts["none"].startswith("OK" if consistent else "FAIL"), verdicts
    if consistent and tamper == "forged append":
        forged_line = len(bundle.records()) + 1
        for name in ("key", "head"):
            assert verdicts[name].startswith(f"FAIL: unanchored (line {forged_line}, "), verdicts[name]
    if consistent and tamper in ("rewritten history", "replaced verifier"):
        assert verdicts["key"].startswith("FAIL: unanchored (line 1, "), verdicts
        assert verdicts["head"].startswith("FAIL: untrusted: the chain does not reach the trusted head")
    if tamper == "replaced verifier":
        # the replaced script in the bundle says what its author wants; your own copy does not
        fake = tmp_path / "their_verify_bundle.py"
        fake.write_bytes(_read_zip(path)["verify_bundle.py"])
        replaced = subprocess.run([*auditor_python, str(fake), str(path)], capture_output=True, text=True)
        assert replaced.stdout.startswith("OK")
        if not consistent:
            assert verdicts["none"].startswith("FAIL: edited (line 3, "), verdicts


def test_replaced_verifier_alone_is_named(signed, own_verifier, auditor_python, tmp_path) -> None:
    bundle, _ = signed
    path = bundle.with_members({"verify_bundle.py": b"print('OK')\n"}).write(tmp_path / "b.zip")
    ours, theirs = _both(path, own_verifier, auditor_python, [])
    assert ours == theirs and ours.startswith("FAIL: verifier-replaced: verify_bundle.py in the bundle is not")


def test_dropped_tail_at_a_checkpoint_needs_the_manifest_signature(signed, keypair, tmp_path) -> None:
    """Cut exactly after a checkpoint, every record left is signed: only the signed manifest (or a
    recorded head) shows that records are missing."""
    bundle, head = signed
    cps = [json.loads(c) for c in _lines(bundle.members["checkpoints.jsonl"])]
    boundary = cps[-2]["seq"]
    first = bundle.manifest["first_seq"]
    records = bundle.records()[: boundary - first + 1]
    cut = bundle.consistent(records, [c for c in _lines(bundle.members["checkpoints.jsonl"])][:-1])
    path = cut.write(tmp_path / "cut.zip")
    assert verify_bundle(path).ok
    keyed = verify_bundle(path, public_key=keypair.public)
    assert not keyed.ok and keyed.failure is not None and keyed.failure.reason == "manifest-forged"
    assert not verify_bundle(path, trusted_head=head).ok


def test_duplicate_member_is_rejected(signed, keypair, own_verifier, auditor_python, tmp_path) -> None:
    bundle, head = signed
    records = bundle.records()
    records[0] = _edited(records[0])
    path = tmp_path / "dup.zip"
    with pytest.warns(UserWarning, match="Duplicate name"):
        _write_zip(
            path,
            [(n, bundle.members[n]) for n in MEMBER_ORDER] + [("records.jsonl", _join(records))],
        )
    for anchor in ([], ["--public-key", str(keypair.pub)], ["--trusted-head", head]):
        ours, theirs = _both(path, own_verifier, auditor_python, anchor)
        assert ours == theirs
        assert ours.startswith("FAIL: malformed: bundle: duplicate member records.jsonl"), ours


def _bomb(path: Path, size: int, declared: int | None = None) -> None:
    """A zip of about size/1000 bytes whose records.jsonl inflates to ``size`` bytes of one endless
    line (``declared``: the size its headers claim instead). Built from one compressed megabyte
    repeated: each piece ends with a full flush, so the pieces decode independently."""
    import struct
    import zlib

    chunk = b"A" * (1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    n = size // len(chunk)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    body = piece * n + b"\x03\x00"  # an empty final block
    manifest = json.dumps(
        {
            "format": "typedflow-lineage-bundle/1",
            "count": 1,
            "first_seq": 0,
            "last_seq": 0,
            "first_prev_hash": "0" * 64,
            "head_hash": "0" * 64,
            "records_sha256": "0" * 64,
        }
    ).encode()
    entries = [
        (b"manifest.json", 0, zlib.crc32(manifest), manifest, len(manifest)),
        (b"records.jsonl", 8, crc, body, declared or n * len(chunk)),
    ]
    out, central = bytearray(), bytearray()
    for name, method, crc32, data, usize in entries:
        offset = len(out)
        out += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc32, len(data), usize, len(name), 0
        )
        out += name + data
        central += struct.pack(
            "<4sBBBBHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            3,
            20,
            0,
            0,
            method,
            0,
            0x21,
            crc32,
            len(data),
            usize,
            len(name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offset,
        )
        central += name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))


def test_zip_bomb_fails_fast_in_bounded_memory(own_verifier, auditor_python, keypair, tmp_path) -> None:
    path = tmp_path / "bomb.zip"
    _bomb(path, 2 << 30)  # 2 GiB of records behind a couple of megabytes
    assert path.stat().st_size < 4 << 20
    tracemalloc.start()
    t0 = time.monotonic()
    result = verify_path(path, public_key=keypair.public)
    elapsed = time.monotonic() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not result.ok and result.failure is not None and result.failure.reason == "zip-bomb"
    assert elapsed < 5 and peak < 64 << 20, (elapsed, peak)
    for anchor in ([], ["--public-key", str(keypair.pub)]):
        ours, theirs = _both(path, own_verifier, auditor_python, anchor)
        assert ours == theirs and ours.startswith("FAIL: zip-bomb: records.jsonl inflates from ")


def test_bomb_with_a_lying_size_stops_at_the_size_it_declares(tmp_path) -> None:
    """A bomb that declares a small size (to pass the ratio check) is read only that far, then its
    checksum fails."""
    liar = tmp_path / "liar.zip"
    _bomb(liar, 256 << 20, declared=8 << 20)  # 8 MiB: within the allowed ratio and the longest line
    tracemalloc.start()
    result = verify_path(liar)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not result.ok and peak < 64 << 20
    assert result.summary().startswith("FAIL: malformed: records.jsonl: corrupt (Bad CRC-32"), result.summary()


@pytest.mark.parametrize(
    ("case", "wanted"),
    [
        ("missing records", "FAIL: malformed: bundle: missing member records.jsonl"),
        ("missing manifest", "FAIL: malformed: bundle: missing member manifest.json"),
        ("manifest is a list", "FAIL: malformed: manifest.json: is not a JSON object"),
        ("manifest field", "FAIL: malformed: manifest.json: field 'count' must be an integer >= 0"),
        ("manifest not json", "FAIL: malformed: manifest.json: does not parse"),
        ("unexpected member", "FAIL: malformed: bundle: unexpected member 'notes.txt'"),
        ("corrupt deflate", "FAIL: malformed: records.jsonl: "),
        ("not a zip", "FAIL: malformed: bundle: not a readable zip file"),
        ("bad checkpoint", "FAIL: malformed: checkpoints.jsonl: line 1: not a checkpoint"),
        ("deeply nested", "FAIL: malformed: manifest.json: "),
    ],
)
def test_malformed_bundles_fail_naming_the_problem(case, wanted, signed, own_verifier, auditor_python, tmp_path):
    bundle, _ = signed
    members = dict(bundle.members)
    path = tmp_path / "bad.zip"
    if case == "missing records":
        del members["records.jsonl"]
    elif case == "missing manifest":
        del members["manifest.json"]
    elif case == "manifest is a list":
        members["manifest.json"] = b"[1, 2, 3]\n"
    elif case == "manifest field":
        m = bundle.manifest
        m["count"] = "twenty"
        members["manifest.json"] = json.dumps(m).encode()
    elif case == "manifest not json":
        members["manifest.json"] = b"{not json"
    elif case == "deeply nested":
        members["manifest.json"] = b"[" * 100_000 + b"]" * 100_000
    elif case == "bad checkpoint":
        members["checkpoints.jsonl"] = b'{"type":"something else"}\n'
    if case == "unexpected member":
        _write_zip(path, [*members.items(), ("notes.txt", b"hi")])
    elif case == "corrupt deflate":
        # a format-1 bundle (deflated) whose compressed records are damaged
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            m = bundle.manifest
            m["format"] = "typedflow-lineage-bundle/1"
            zf.writestr("manifest.json", json.dumps(m))
            zf.writestr("records.jsonl", members["records.jsonl"])
        data = bytearray(path.read_bytes())
        start = data.find(b"records.jsonl") + len("records.jsonl")
        for k in range(start + 20, start + 60):
            data[k] ^= 0x5A
        path.write_bytes(bytes(data))
    elif case == "not a zip":
        path.write_bytes(b"PK\x03\x04 this is not really a zip")
    else:
        _write_zip(path, [(n, members[n]) for n in MEMBER_ORDER if n in members])
    ours, theirs = _both(path, own_verifier, auditor_python, [])
    assert ours == theirs
    assert ours.startswith(wanted), ours


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_to_a_signed_bundle_fails_with_the_key(signed, keypair, data) -> None:
    bundle, _ = signed
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in MEMBER_ORDER:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, bundle.members[name])
    original = buf.getvalue()
    key = PublicKey(keypair.public)
    import tempfile

    from typedflow.lineage.verify_bundle import verify_bundle as core_verify

    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good.zip"
        good.write_bytes(original)
        assert core_verify(str(good), key=key).ok
        pos = data.draw(st.integers(0, len(original) - 1), label="byte")
        flip = data.draw(st.integers(1, 255), label="xor")
        changed = bytearray(original)
        changed[pos] ^= flip
        bad = Path(tmp) / "bad.zip"
        bad.write_bytes(bytes(changed))
        result = core_verify(str(bad), key=key)
    assert not result.ok, (pos, flip)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_to_a_signed_bundle_directory_fails_with_the_key(signed, keypair, data) -> None:
    import tempfile

    from typedflow.lineage.verify_bundle import verify_bundle as core_verify

    bundle, _ = signed
    key = PublicKey(keypair.public)
    name = data.draw(st.sampled_from(MEMBER_ORDER), label="file")
    content = bundle.members[name]
    pos = data.draw(st.integers(0, len(content) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    with tempfile.TemporaryDirectory() as tmp:
        for n in MEMBER_ORDER:
            body = bundle.members[n]
            if n == name:
                body = body[:pos] + bytes([body[pos] ^ flip]) + body[pos + 1 :]
            (Path(tmp) / n).write_bytes(body)
        result = core_verify(tmp, key=key)
    assert not result.ok, (name, pos, flip)


# -- the live log ------------------------------------------------------------------------------------


@pytest.fixture
def signed_log(tmp_path: Path, make_record, keypair) -> Path:
    path = tmp_path / "lineage" / "log.jsonl"
    with LineageLog(path, flush_every=5, fsync=False, signer=load_key_file(keypair.key)) as log:
        for i in range(12):
            log.append(make_record(i))
    assert verify_log(path, public_key=keypair.public).ok
    return path


def _log_lines(path: Path) -> list[bytes]:
    return _lines(path.read_bytes())


def _set_head(path: Path, lines: list[bytes]) -> None:
    head = {"count": len(lines), "hash": _sha(lines[-1]), "seq": len(lines) - 1}
    path.with_name(path.name + ".head").write_bytes(canonical(head))


def test_forged_append_to_the_log_stays_a_failure_after_the_next_run(signed_log, make_record, keypair) -> None:
    lines = _log_lines(signed_log)
    recorded = _sha(lines[-1])
    forged = record_line(attrs.evolve(make_record(99), seq=len(lines), prev_hash=_sha(lines[-1])))
    signed_log.write_bytes(_join([*lines, forged]))
    _set_head(signed_log, [*lines, forged])
    plain = verify_log(signed_log)
    assert plain.ok and any("not covered by any checkpoint" in w for w in plain.warnings)
    for anchor in ({"public_key": keypair.public}, {"trusted_head": recorded}):
        result = verify_log(signed_log, **anchor)
        assert not result.ok and result.failure is not None
        assert (result.failure.reason, result.failure.line) == ("unanchored", 13), result.summary()
    # The next run signs what it appends, not what it found: the forged record stays unanchored.
    with LineageLog(signed_log, fsync=False, signer=load_key_file(keypair.key)) as log:
        log.append(make_record(100))
    result = verify_log(signed_log, public_key=keypair.public)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.record_id) == (
        "unanchored",
        13,
        json.loads(forged)["record_id"],
    )


def test_replaced_last_record_fails_even_without_a_key(signed_log, keypair) -> None:
    lines = _log_lines(signed_log)
    lines[-1] = _rechain([_edited(lines[-1])], _sha(lines[-2]), len(lines) - 1)[0]
    signed_log.write_bytes(_join(lines))
    _set_head(signed_log, lines)
    for anchor in ({}, {"public_key": keypair.public}):
        result = verify_log(signed_log, **anchor)
        assert not result.ok and result.failure is not None
        assert (result.failure.reason, result.failure.line) == ("rewritten", 12), result.summary()


def test_dropped_tail_of_the_log(signed_log, keypair) -> None:
    lines = _log_lines(signed_log)
    recorded = _sha(lines[-1])
    kept = lines[:-3]
    signed_log.write_bytes(_join(kept))
    _set_head(signed_log, kept)
    # the checkpoints still name the records that are gone
    result = verify_log(signed_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line) == ("truncated", 10), result.summary()
    with pytest.raises(LineageIntegrityError, match="signed record"):
        LineageLog(signed_log, signer=None)
    # cut at a checkpoint boundary with the checkpoints trimmed too, only a recorded head tells
    kept = lines[:10]
    signed_log.write_bytes(_join(kept))
    _set_head(signed_log, kept)
    cps = signed_log.with_name("log.jsonl.checkpoints")
    cps.write_bytes(_join([c for c in _lines(cps.read_bytes()) if json.loads(c)["seq"] < 10]))
    assert verify_log(signed_log, public_key=keypair.public).ok
    cut = verify_log(signed_log, public_key=keypair.public, trusted_head=recorded)
    assert not cut.ok and cut.failure is not None and cut.failure.reason == "untrusted"


def test_deleted_head_is_a_failure_until_a_signed_checkpoint_covers_the_repair(
    signed_log, make_record, keypair
) -> None:
    signed_log.with_name("log.jsonl.head").unlink()
    assert (failure := verify_log(signed_log).failure) is not None and failure.reason == "head-missing"
    # the signed checkpoints cover every record: they stand in for the head
    assert verify_log(signed_log, public_key=keypair.public).ok
    with pytest.warns(UserWarning, match="head file was missing"):
        LineageLog(signed_log, signer=None).close()
    for anchor in ({}, {"public_key": keypair.public}):
        result = verify_log(signed_log, **anchor)
        assert not result.ok and result.failure is not None and result.failure.reason == "repaired"
    # a later signed checkpoint covers the repaired state
    with LineageLog(signed_log, fsync=False, signer=load_key_file(keypair.key)) as log:
        log.append(make_record(50))
    result = verify_log(signed_log, public_key=keypair.public)
    assert result.ok, result.summary()
    assert any("covered by a later signed checkpoint" in w for w in result.warnings)


def test_a_signer_seals_the_repair_it_makes(signed_log, keypair) -> None:
    with open(signed_log, "ab") as f:
        f.write(b"\x00" * 40 + b"\n")  # a tail that is not a record
    with pytest.warns(UserWarning, match="torn"):
        LineageLog(signed_log, fsync=False, signer=load_key_file(keypair.key)).close()
    result = verify_log(signed_log, public_key=keypair.public)
    assert result.ok, result.summary()
    assert any("tail-cut" in w for w in result.warnings)


def test_the_cli_verifies_a_log_with_anchors(signed_log, keypair, capsys, tmp_path) -> None:
    import argparse

    from typedflow.lineage.cli import add_subparser

    parser = argparse.ArgumentParser(prog="typedflow")
    add_subparser(parser.add_subparsers(dest="command"))

    def run(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args(["lineage", "--log", str(signed_log), *argv])
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    head = _sha(_log_lines(signed_log)[-1])
    code, out, _ = run("verify", "--public-key", str(keypair.pub), "--trusted-head", "sha256:" + head)
    assert code == 0 and "every record signed by key" in out and "trusted head at seq 11" in out
    code, _, err = run("verify", "--public-key", str(tmp_path / "none.pub"))
    assert code == 2 and "--public-key" in err
    code, _, err = run("verify", "--trusted-head", "abc")
    assert code == 2 and "64 hex digits" in err
    code, out, _ = run("verify", "--trusted-head", "1" * 64)
    assert code == 1 and out.startswith("FAIL: untrusted")


@pytest.mark.parametrize(
    ("side", "content", "wanted"),
    [
        (
            "checkpoints",
            b'{"type":"typedflow-lineage-checkpoint/1"}\n',
            "FAIL: malformed: log.jsonl.checkpoints: line 1",
        ),
        ("checkpoints", b"not json\n", "FAIL: malformed: log.jsonl.checkpoints: line 1 does not parse"),
        ("repairs", b"[]\n", "FAIL: malformed: log.jsonl.repairs: line 1: not a repair entry"),
        ("head", b"[1, 2]", "FAIL: head-mismatch: unreadable head: head file is not a JSON object"),
        ("head", b"\xff\xfe", "FAIL: head-mismatch: unreadable head"),
    ],
)
def test_malformed_side_files_of_a_log_fail_naming_them(signed_log, side, content, wanted, capsys) -> None:
    from typedflow.cli import main

    signed_log.with_name(f"log.jsonl.{side}").write_bytes(content)
    assert main(["lineage", "verify", str(signed_log)]) == 1
    out = capsys.readouterr()
    assert out.out.startswith(wanted), out.out
    assert "Traceback" not in out.err


def test_a_log_that_is_not_a_log(tmp_path, capsys) -> None:
    from typedflow.cli import main

    garbage = tmp_path / "log.jsonl"
    garbage.write_bytes(b"\x00\x01 binary\nnot a record\n")
    assert main(["lineage", "verify", str(garbage)]) == 1
    assert capsys.readouterr().out.startswith("FAIL: edited (line 1)")
    assert main(["lineage", "verify", str(tmp_path)]) == 1
    assert "is not a file" in capsys.readouterr().out
