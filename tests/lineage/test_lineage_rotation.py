"""Key rotation: a log or bundle whose checkpoints were signed by key A, then by key B, verifies when
both public keys are given (repeated ``--public-key``, a file of several PEM keys, or a directory),
fails with one of them naming the other key's id and the first record it alone signed, and still
catches tampering. ``typedflow lineage verify`` and the standard-library verifier under ``python -I``
print the same lines."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedflow.lineage import LineageLog, verify_log
from typedflow.lineage.cloud import iter_dir, pull, put_dir
from typedflow.lineage.export.bundle import export_bundle, verifier_source
from typedflow.lineage.signing import Signer, keygen, load_key_file
from typedflow.lineage.verify_bundle import Keyring, PublicKey, canonical, load_keyring


def _key(pair) -> PublicKey:
    return PublicKey(pair.public)


def _rotated_log(path: Path, make_record, segments: list[tuple[Signer, int]], flush_every: int = 5) -> list[int]:
    """Runs one after another, each signing with its key; the first seq of each run."""
    starts = []
    seq = 0
    for signer, n in segments:
        starts.append(seq)
        with LineageLog(path, flush_every=flush_every, fsync=False, signer=signer) as log:
            for _ in range(n):
                log.append(make_record(seq))
                seq += 1
    return starts


@pytest.fixture
def rotated(tmp_path: Path, make_record, keypair, other_keypair) -> Path:
    """12 records signed by key A (keypair), then 9 by key B (other_keypair)."""
    path = tmp_path / "lineage" / "log.jsonl"
    a, b = load_key_file(keypair.key), load_key_file(other_keypair.key)
    assert _rotated_log(path, make_record, [(a, 12), (b, 9)]) == [0, 12]
    return path


def test_a_log_signed_across_a_rotation_verifies_with_both_keys(rotated, keypair, other_keypair) -> None:
    both = verify_log(rotated, public_key=[keypair.public, other_keypair.public])
    assert both.ok, both.summary()
    assert both.count == 21
    assert both.anchor == (
        f"every record signed by trusted keys {keypair.key_id[:16]} (3 checkpoint(s)), "
        f"{other_keypair.key_id[:16]} (2 checkpoint(s))"
    )


def test_one_key_of_a_rotation_fails_naming_the_other_key_and_the_first_record_it_signed(
    rotated, keypair, other_keypair
) -> None:
    only_a = verify_log(rotated, public_key=keypair.public)
    assert not only_a.ok and only_a.failure is not None
    assert (only_a.failure.reason, only_a.failure.line, only_a.failure.seq) == ("unanchored", 13, 12)
    assert "lines 13..21 unanchored (9 record(s) in all)" in only_a.failure.detail
    assert f"checkpoints line 4 signs it with key {other_keypair.key_id}, which is not among the trusted keys" in (
        only_a.failure.detail
    )
    only_b = verify_log(rotated, public_key=other_keypair.public)
    assert not only_b.ok and only_b.failure is not None
    assert (only_b.failure.reason, only_b.failure.line, only_b.failure.seq) == ("unanchored", 1, 0)
    assert f"signs it with key {keypair.key_id}" in only_b.failure.detail


def test_tampering_is_still_caught_with_every_key_of_the_rotation(rotated, make_record, keypair, other_keypair):
    keys = [keypair.public, other_keypair.public]
    lines = rotated.read_bytes().split(b"\n")[:-1]
    # an edited record in A's part
    data = json.loads(lines[3])
    data["status"] = "failed"
    edited = [*lines[:3], canonical(data), *lines[4:]]
    original = rotated.read_bytes()
    head = rotated.with_name("log.jsonl.head")
    original_head = head.read_bytes()
    rotated.write_bytes(b"".join(x + b"\n" for x in edited))
    result = verify_log(rotated, public_key=keys)
    assert (
        not result.ok
        and result.failure is not None
        and (result.failure.line, result.failure.reason)
        == (
            4,
            "edited",
        )
    )
    # a forged record appended after B's part, head file fixed up
    rotated.write_bytes(original)
    forged = canonical(
        {**json.loads(lines[-1]), "seq": 21, "prev_hash": _sha(lines[-1]), "record_id": "f" * 32, "status": "failed"}
    )
    rotated.write_bytes(original + forged + b"\n")
    head.write_bytes(canonical({"count": 22, "hash": _sha(forged), "seq": 21}))
    result = verify_log(rotated, public_key=keys)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.record_id) == ("unanchored", 22, "f" * 32)
    # a checkpoint "signed" with B's key id but by someone else is forged, not foreign
    rotated.write_bytes(original)
    head.write_bytes(original_head)
    assert verify_log(rotated, public_key=keys).ok
    cps = rotated.with_name("log.jsonl.checkpoints")
    cp_lines = cps.read_bytes().split(b"\n")[:-1]
    cp = json.loads(cp_lines[-1])
    cp["time"] = "2030-01-01T00:00:00.000000Z"
    cps.write_bytes(b"".join(x + b"\n" for x in [*cp_lines[:-1], canonical(cp)]))
    result = verify_log(rotated, public_key=keys)
    assert not result.ok and result.failure is not None and result.failure.reason == "forged", result.summary()


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_every_form_of_the_option_names_the_same_keys(rotated, keypair, other_keypair, tmp_path, capsys) -> None:
    from typedflow.cli import main

    ring = tmp_path / "keyring.pem"
    ring.write_bytes(keypair.public + other_keypair.public)
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "2026-a.pub").write_bytes(keypair.public)
    (folder / "2027-b.pem").write_bytes(other_keypair.public)
    (folder / "README.txt").write_text("not a key: ignored")
    forms = (
        ["--public-key", str(keypair.pub), "--public-key", str(other_keypair.pub)],
        ["--public-key", str(ring)],
        ["--public-key", str(folder)],
        ["--public-key", str(folder), "--public-key", str(keypair.pub)],  # a key given twice counts once
    )
    outs = set()
    for form in forms:
        assert main(["lineage", "verify", str(rotated), *form]) == 0
        outs.add(capsys.readouterr().out)
    assert len(outs) == 1 and next(iter(outs)).startswith("OK: 21 records"), outs
    assert load_keyring([str(ring)]).keys.keys() == {keypair.key_id, other_keypair.key_id}


@pytest.mark.parametrize(
    ("setup", "wanted"),
    [
        ("empty dir", "directory holds no public key files (*.pub, *.pem, *.der)"),
        ("bad file in dir", "bad.pub: not a public key: expected a PEM or DER SubjectPublicKeyInfo"),
        ("text between keys", "text between PEM public keys"),
        ("private key in ring", "not a public key (expected -----BEGIN PUBLIC KEY-----; is this the private key?)"),
        ("missing", "No such file or directory"),
    ],
)
def test_unusable_keys_exit_2_naming_the_file(rotated, keypair, tmp_path, capsys, setup, wanted) -> None:
    from typedflow.cli import main

    target = tmp_path / "keys"
    if setup == "empty dir":
        target.mkdir()
    elif setup == "bad file in dir":
        target.mkdir()
        (target / "a.pub").write_bytes(keypair.public)
        (target / "bad.pub").write_bytes(b"garbage that is not a key")
    elif setup == "text between keys":
        target.write_bytes(keypair.public + b"# a comment\n" + keypair.public)
    elif setup == "private key in ring":
        target.write_bytes(keypair.public + keypair.key.read_bytes())
    for argv in (["verify", str(rotated)], ["pull", "r", "--target", "vertex", "--from", str(tmp_path)]):
        assert main(["lineage", *argv, "--public-key", str(keypair.pub), "--public-key", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"--public-key {target}: ") and wanted in err, err
        assert "Traceback" not in err
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(verifier_source())
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(rotated), "--public-key", str(target)], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.startswith(f"error: --public-key {target}: ") and wanted in done.stderr


# -- the two verifiers, line for line ---------------------------------------------------------------


def _tf_verify(target: Path, keys: list[Path]) -> tuple[int, list[str], list[str]]:
    argv = [sys.executable, "-m", "typedflow", "lineage", "verify", str(target)]
    for k in keys:
        argv += ["--public-key", str(k)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout.splitlines(), done.stderr.splitlines()


def _script_verify(script: Path, target: Path, keys: list[Path]) -> tuple[int, list[str], list[str]]:
    argv = [sys.executable, "-I", str(script), str(target)]
    for k in keys:
        argv += ["--public-key", str(k)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={})
    return done.returncode, done.stdout.splitlines(), done.stderr.splitlines()


@pytest.mark.parametrize("form", ["log", "bundle"])
def test_the_stdlib_verifier_agrees_line_for_line_across_a_rotation(
    rotated, keypair, other_keypair, tmp_path, form
) -> None:
    script = tmp_path / "my_verify_bundle.py"
    script.write_bytes(verifier_source())
    target = rotated
    if form == "bundle":
        target = tmp_path / "audit.zip"
        export_bundle(rotated, target, run_ids=None, signer=load_key_file(other_keypair.key))
    cases = {
        "both": [keypair.pub, other_keypair.pub],
        "only A": [keypair.pub],
        "only B": [other_keypair.pub],
    }
    verdicts = {}
    for name, keys in cases.items():
        ours, theirs = _tf_verify(target, keys), _script_verify(script, target, keys)
        assert ours == theirs, (name, ours, theirs)
        verdicts[name] = ours
    assert verdicts["both"][0] == 0 and verdicts["both"][1][0].startswith("OK: 21 records")
    assert verdicts["only A"][0] == 1
    assert verdicts["only A"][1][0].startswith("FAIL: unanchored (line 13, seq 12, record ")
    assert other_keypair.key_id in verdicts["only A"][1][0]
    assert verdicts["only B"][1][0].startswith("FAIL: unanchored (line 1, seq 0, record ")
    assert keypair.key_id in verdicts["only B"][1][0]


# -- random rotation points -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_keys(tmp_path_factory) -> list[tuple[Signer, bytes, str]]:
    out: list[tuple[Signer, bytes, str]] = []
    for i in range(3):
        key, pub, key_id = keygen(tmp_path_factory.mktemp(f"rot{i}"))
        out.append((load_key_file(key), pub.read_bytes(), key_id))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    segments=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 9)), min_size=1, max_size=5),
    flush_every=st.integers(1, 6),
    edit=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_random_rotation_points(three_keys, make_record, segments, flush_every, edit) -> None:
    """Runs signed by randomly chosen keys: all the keys used verify; leaving one out fails at the
    first record only it signed, naming its key id; any edited record fails whatever the keys."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        starts = _rotated_log(path, make_record, [(three_keys[k][0], n) for k, n in segments], flush_every)
        used = sorted({k for k, _ in segments})
        publics = [three_keys[k][1] for k in used]
        if edit is not None:
            lines = path.read_bytes().split(b"\n")[:-1]
            i = edit % len(lines)
            data = json.loads(lines[i])
            data["parameters"] = {"i": -1}
            lines[i] = canonical(data)
            path.write_bytes(b"".join(x + b"\n" for x in lines))
            result = verify_log(path, public_key=publics)
            assert not result.ok and result.failure is not None and result.failure.line == i + 1
            return
        assert verify_log(path, public_key=publics).ok
        assert verify_log(path, public_key=Keyring(PublicKey(p) for p in publics)).ok
        for left_out in used:
            keys = [three_keys[k][1] for k in used if k != left_out]
            first = min(start for start, (k, _) in zip(starts, segments, strict=True) if k == left_out)
            if not keys:
                continue
            result = verify_log(path, public_key=keys)
            assert not result.ok and result.failure is not None
            assert (result.failure.reason, result.failure.seq) == ("unanchored", first), result.summary()
            assert f"with key {three_keys[left_out][2]}, which is not among the trusted keys" in result.failure.detail


# -- pull --------------------------------------------------------------------------------------------


def test_pull_accepts_cloud_records_signed_across_a_rotation(tmp_path, make_record, keypair, other_keypair) -> None:
    root = tmp_path / "root"
    for i, pair in enumerate([keypair, keypair, other_keypair]):
        rec = attrs.evolve(make_record(i), run_id="job-9", target="vertex", executor="vertex-container")
        put_dir(rec, root, signer=load_key_file(pair.key), anchor=str(tmp_path / "anchor"))
    objects = list(iter_dir(root, run_id="job-9", checkpoints=True))
    anchored = list(iter_dir(tmp_path / "anchor", run_id="job-9", checkpoints=True))
    with LineageLog(tmp_path / "only-a.jsonl", fsync=False, signer=None) as log:
        result = pull(objects, log, key=_key(keypair), anchor=anchored, anchor_retention=False)
    assert (result.appended, result.verified) == (2, 2)
    [(_uri, reason)] = result.rejected
    assert f"signed by key {other_keypair.key_id}, not a trusted key" in reason
    # the anchored checkpoint of B's record is not reported missing: its record is there, only untrusted
    assert result.missing == ()
    with LineageLog(tmp_path / "both.jsonl", fsync=False, signer=None) as log:
        result = pull(
            objects, log, key=Keyring([_key(keypair), _key(other_keypair)]), anchor=anchored, anchor_retention=False
        )
    assert (result.appended, result.verified, result.rejected) == (3, 3, ())
    assert result.key_ids == (keypair.key_id, other_keypair.key_id) or result.key_ids == (
        other_keypair.key_id,
        keypair.key_id,
    )


def test_pull_cli_names_the_keys_that_verified(tmp_path, make_record, keypair, other_keypair, capsys, monkeypatch):
    from typedflow.cli import main

    root = tmp_path / "root"
    for i, pair in enumerate([keypair, other_keypair]):
        rec = attrs.evolve(make_record(i), run_id="job-3", target="vertex", executor="vertex-container")
        put_dir(rec, root, signer=load_key_file(pair.key))
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    argv = ["lineage", "pull", "job-3", "--target", "vertex", "--from", str(root)]
    assert main([*argv, "--public-key", str(keypair.pub)]) == 1
    out = capsys.readouterr()
    assert "1 appended, 0 already present, 1 rejected; 1 verified with key " + keypair.key_id[:16] in out.out
    assert f"signed by key {other_keypair.key_id}, not a trusted key" in out.err
    assert main([*argv, "--public-key", str(keypair.pub), "--public-key", str(other_keypair.pub)]) == 0
    out = capsys.readouterr().out
    assert "1 appended, 1 already present, 0 rejected; 2 verified with keys " in out
    assert keypair.key_id[:16] in out and other_keypair.key_id[:16] in out
