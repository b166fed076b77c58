"""Signed checkpoints: key files, the configured signer, AWS KMS (moto), and what the verifiers accept."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from typedflow.lineage import LineageLog, verify_log
from typedflow.lineage.export.bundle import export_bundle, verifier_source
from typedflow.lineage.signing import (
    AwsKmsSigner,
    SigningError,
    checkpoint_line,
    configured_signer,
    keygen,
    load_key_file,
)
from typedflow.lineage.verify_bundle import PublicKey, canonical, parse_checkpoint, signed_message


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path) -> None:
    key, pub, key_id = keygen(tmp_path / "keys")
    assert (key.name, pub.name) == ("lineage.key", "lineage.pub")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    # the key id is the sha256 of the public key's DER: what a verifier computes from the .pub alone
    assert PublicKey(pub.read_bytes()).key_id == key_id == load_key_file(key).key_id
    with pytest.raises(SigningError, match="exists; not overwritten"):
        keygen(tmp_path / "keys")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_keygen_command(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "typedflow", "lineage", "keygen", "-o", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    key_id = PublicKey((tmp_path / "k" / "lineage.pub").read_bytes()).key_id
    assert f"key id      {key_id}" in out.stdout and "TYPEDFLOW_LINEAGE_KEY=" in out.stdout
    again = subprocess.run(
        [sys.executable, "-m", "typedflow", "lineage", "keygen", "-o", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "not overwritten" in again.stderr and "Traceback" not in again.stderr


def test_unusable_key_files_are_refused(tmp_path, keypair) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    loose = tmp_path / "loose.key"
    loose.write_bytes(keypair.key.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(SigningError, match="accessible by others"):
        load_key_file(loose)
    ecdsa = tmp_path / "ec.key"
    ecdsa.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ecdsa.chmod(0o600)
    with pytest.raises(SigningError, match="expected an Ed25519 key"):
        load_key_file(ecdsa)
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(SigningError, match="not an unencrypted PEM private key"):
        load_key_file(garbage)


def test_configured_signer_is_the_environments_key(monkeypatch, keypair, tmp_path) -> None:
    assert configured_signer() is None
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", str(keypair.key))
    signer = configured_signer()
    assert signer is not None and signer.key_id == keypair.key_id
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", str(tmp_path / "nope.key"))
    with pytest.raises(SigningError, match="TYPEDFLOW_LINEAGE_KEY="):
        configured_signer()
    # a log opened with a configured key that cannot be loaded refuses to start, naming the setting
    with pytest.raises(SigningError, match="TYPEDFLOW_LINEAGE_KEY="):
        LineageLog(tmp_path / "log.jsonl")


def test_each_group_is_followed_by_a_checkpoint_of_what_it_appended(tmp_path, make_record, keypair) -> None:
    path = tmp_path / "log.jsonl"
    signer = load_key_file(keypair.key)
    with LineageLog(path, flush_every=5, fsync=False, signer=signer) as log:
        for i in range(12):
            log.append(make_record(i))
    hashes = [hashlib.sha256(line).hexdigest() for line in _lines(path)]
    key = PublicKey(keypair.public)
    checkpoints = []
    for raw in _lines(path.with_name("log.jsonl.checkpoints")):
        data = json.loads(raw)
        assert canonical(data) == raw
        cp = parse_checkpoint(data)
        assert not isinstance(cp, str)
        assert cp.key_id == keypair.key_id and cp.alg == "ed25519"
        assert cp.head == hashes[cp.seq]
        assert key.verify(cp.alg, cp.signature, cp.message)
        assert not key.verify(cp.alg, cp.signature, cp.message.replace(b'"seq":', b'"seq":1'))
        checkpoints.append((cp.start, cp.seq))
    assert checkpoints == [(0, 4), (5, 9), (10, 11)]
    result = verify_log(path, public_key=keypair.public)
    assert result.ok, result.summary()
    assert f"every record signed by key {keypair.key_id[:16]}" in result.summary()


def test_another_key_anchors_nothing(tmp_path, make_record, keypair, other_keypair) -> None:
    path = tmp_path / "log.jsonl"
    with LineageLog(path, fsync=False, signer=load_key_file(keypair.key)) as log:
        for i in range(3):
            log.append(make_record(i))
    result = verify_log(path, public_key=other_keypair.public)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line) == ("unanchored", 1)
    assert any(keypair.key_id in w for w in result.warnings)


def test_checkpoint_line_signs_what_the_verifier_checks(keypair) -> None:
    signer = load_key_file(keypair.key)
    line = checkpoint_line(signer, 3, 7, "ab" * 32, time="2026-12-01T00:00:00.000000Z")
    data = json.loads(line)
    assert canonical(data) == line
    assert signed_message(data) == canonical({k: v for k, v in data.items() if k != "sig"})
    cp = parse_checkpoint(data)
    assert not isinstance(cp, str) and (cp.start, cp.seq, cp.head) == (3, 7, "ab" * 32)
    assert PublicKey(keypair.public).verify("ed25519", cp.signature, cp.message)


# -- AWS KMS through moto --------------------------------------------------------------------------


@pytest.fixture
def kms(monkeypatch) -> Any:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def test_aws_kms_signer_signs_checkpoints_a_verifier_checks(kms, tmp_path, make_record) -> None:
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = AwsKmsSigner(key_id, kms)
    assert signer.alg == "ecdsa-p256-sha256"
    public = signer.public_key_pem()
    assert PublicKey(public).key_id == signer.key_id
    path = tmp_path / "log.jsonl"
    with LineageLog(path, flush_every=4, fsync=False, signer=signer) as log:
        for i in range(6):
            log.append(make_record(i))
    result = verify_log(path, public_key=public)
    assert result.ok, result.summary()
    # KMS itself agrees the signature over the checkpoint's message is its own
    cp = parse_checkpoint(json.loads(_lines(path.with_name("log.jsonl.checkpoints"))[0]))
    assert not isinstance(cp, str)
    assert kms.verify(
        KeyId=key_id,
        Message=cp.message,
        MessageType="RAW",
        Signature=cp.signature,
        SigningAlgorithm="ECDSA_SHA_256",
    )["SignatureValid"]


def test_aws_kms_spec_and_wrong_keys(kms, monkeypatch) -> None:
    good = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", f"awskms:{good}")
    signer = configured_signer()
    assert isinstance(signer, AwsKmsSigner)
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(SigningError, match="expected an ECC_NIST_P256 key"):
        AwsKmsSigner(rsa, kms)
    with pytest.raises(SigningError, match="cannot read the public key"):
        AwsKmsSigner("alias/none", kms)


# -- the stdlib verifier as an auditor runs it -----------------------------------------------------


def _script(tmp_path: Path) -> Path:
    own = tmp_path / "auditor" / "verify_bundle.py"
    own.parent.mkdir(exist_ok=True)
    own.write_bytes(verifier_source())
    return own


def test_stdlib_verifier_help_and_usage_errors(tmp_path, keypair) -> None:
    own = _script(tmp_path)
    done = subprocess.run([sys.executable, "-I", str(own), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--public-key" in done.stdout and "--trusted-head" in done.stdout
    for args, wanted in (
        (["--public-key", str(keypair.key)], "is this the private key?"),
        (["--public-key", str(tmp_path / "missing.pub")], "No such file"),
        (["--trusted-head", "xyz"], "64 hex digits"),
    ):
        done = subprocess.run(
            [sys.executable, "-I", str(own), str(tmp_path), *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and wanted in done.stderr and "Traceback" not in done.stderr, args


def test_without_cryptography_a_signature_check_fails_rather_than_passes(
    tmp_path, make_record, keypair, write_log
) -> None:
    log = tmp_path / "log.jsonl"
    with LineageLog(log, fsync=False, signer=load_key_file(keypair.key)) as lg:
        for i in range(4):
            lg.append(make_record(i))
    out = tmp_path / "bundle.zip"
    export_bundle(log, out, signer=load_key_file(keypair.key))
    own = _script(tmp_path)
    base = [sys._base_executable, "-I", "-S"]  # type: ignore[attr-defined]  # not in typeshed; no site-packages: no cryptography, no typedflow
    probe = subprocess.run([*base, "-c", "import cryptography"], capture_output=True, timeout=60)
    assert probe.returncode != 0
    plain = subprocess.run([*base, str(own), str(out)], capture_output=True, text=True, timeout=60, env={})
    assert plain.returncode == 0 and plain.stdout.startswith("OK: 4 records")
    keyed = subprocess.run(
        [*base, str(own), str(out), "--public-key", str(keypair.pub)],
        capture_output=True,
        text=True,
        timeout=60,
        env={},
    )
    assert keyed.returncode == 1
    assert keyed.stdout.startswith("FAIL: unverifiable: checking signatures needs the Python package 'cryptography'")


def test_a_signed_local_run_verifies_with_its_public_key(tmp_path, keypair) -> None:
    """A real run with TYPEDFLOW_LINEAGE_KEY set: its log, and its bundle checked by an auditor's own
    copy of the verifier under another Python, verify against the public key alone."""
    flow = tmp_path / "flow.py"
    flow.write_text(
        "from typedflow import task, workflow, map_over\n"
        "@task\ndef double(x: int) -> int:\n    return 2 * x\n"
        "@task\ndef total(xs: list[int]) -> int:\n    return sum(xs)\n"
        "@workflow\ndef flow(n: int = 4) -> int:\n"
        "    return total(xs=map_over(lambda x: double(x=x), [1, 2, 3]))\n"
    )
    env = {**os.environ, "TYPEDFLOW_HOME": str(tmp_path / "home"), "TYPEDFLOW_LINEAGE_KEY": str(keypair.key)}
    tf = [sys.executable, "-m", "typedflow"]
    run = subprocess.run([*tf, "run", f"{flow}:flow"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    verify = subprocess.run(
        [*tf, "lineage", "verify", "--public-key", str(keypair.pub)], capture_output=True, text=True, env=env
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "every record signed by key" in verify.stdout
    bundle = tmp_path / "audit.zip"
    export = subprocess.run(
        [*tf, "lineage", "export", "--all", "--format", "bundle", "-o", str(bundle)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert export.returncode == 0, export.stderr
    assert f"manifest signed by key {keypair.key_id}" in export.stdout
    auditor = [sys._base_executable, "-I"]  # type: ignore[attr-defined]  # not in typeshed; another Python, with cryptography and without typedflow
    if subprocess.run([*auditor, "-c", "import cryptography"], capture_output=True).returncode != 0:
        auditor = [sys.executable, "-I"]
    done = subprocess.run(
        [*auditor, str(_script(tmp_path)), str(bundle), "--public-key", str(keypair.pub)],
        capture_output=True,
        text=True,
        timeout=60,
        env={},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: 6 records") and "manifest signed" in done.stdout


def test_two_signing_processes_each_sign_only_their_own_groups(tmp_path, keypair, subprocess_env) -> None:
    from typedflow.lineage.query import iter_records

    writer = (
        "import sys\n"
        "from typedflow.lineage import LineageLog, new_record\n"
        "path, tag = sys.argv[1], sys.argv[2]\n"
        "with LineageLog(path, flush_every=7) as log:\n"
        "    for i in range(300):\n"
        "        log.append(new_record('task', run_id=tag, workflow='wf', ir_digest='sha256:' + 'a' * 64,\n"
        "            target='local', executor='process', status='succeeded', node_id=f'{tag}-{i}'))\n"
    )
    path = tmp_path / "log.jsonl"
    env = {**subprocess_env, "TYPEDFLOW_LINEAGE_KEY": str(keypair.key)}
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(path), tag], env=env) for tag in ("alpha", "beta")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    result = verify_log(path, public_key=keypair.public)
    assert result.ok and result.count == 600, result.summary()
    runs = [rec.run_id for rec, _ in iter_records(path)]
    for raw in _lines(path.with_name("log.jsonl.checkpoints")):
        cp = parse_checkpoint(json.loads(raw))
        assert not isinstance(cp, str)
        assert len(set(runs[cp.start : cp.seq + 1])) == 1  # a checkpoint covers one writer's group
