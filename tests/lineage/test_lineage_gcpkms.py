"""GCP Cloud KMS signing: the SDK's real client over its REST transport to a local Cloud KMS endpoint with real
keys; every signature is checked with the public key derived from the private key, never with the endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.gcpkms import CloudKms
from typedflow.lineage import LineageLog, signing, verify_log
from typedflow.lineage.export.bundle import verifier_source
from typedflow.lineage.signing import GcpKmsSigner, SigningError, configured_signer, signer_from_spec
from typedflow.lineage.verify_bundle import PublicKey, parse_checkpoint

P256 = "projects/audit/locations/europe-west1/keyRings/lineage/cryptoKeys/p256/cryptoKeyVersions/1"
ED25519 = "projects/audit/locations/europe-west1/keyRings/lineage/cryptoKeys/ed25519/cryptoKeyVersions/3"
ALGORITHMS = {P256: "EC_SIGN_P256_SHA256", ED25519: "EC_SIGN_ED25519"}


def _public_pem(private: Any) -> bytes:
    """The auditor's copy of the public key: from the private key, not from anything the endpoint answers."""
    return bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudKms]:
    endpoint = CloudKms()
    # configured_signer() builds its client through gcp_kms_client(): here the real client, pointed at the endpoint
    monkeypatch.setattr(signing, "gcp_kms_client", endpoint.client)
    signing._cached.cache_clear()
    try:
        yield endpoint
    finally:
        signing._cached.cache_clear()
        endpoint.close()


def _signs(kms: CloudKms) -> int:
    return sum(1 for method, path in kms.requests if method == "POST" and ":asymmetricSign" in path)


@pytest.mark.parametrize("name", [P256, ED25519], ids=["p256", "ed25519"])
def test_cloud_kms_signs_checkpoints_the_public_key_alone_verifies(kms, tmp_path, make_record, name) -> None:
    private = kms.add_key(name, ALGORITHMS[name])
    public = _public_pem(private)
    signer = signer_from_spec(f"gcpkms:{name}", kms_client=kms.client())
    assert isinstance(signer, GcpKmsSigner)
    assert signer.alg == {P256: "ecdsa-p256-sha256", ED25519: "ed25519"}[name]
    assert signer.key_id == PublicKey(public).key_id
    path = tmp_path / "log.jsonl"
    with LineageLog(path, flush_every=4, fsync=False, signer=signer) as log:
        for i in range(10):
            log.append(make_record(i))
    checkpoints = path.with_name("log.jsonl.checkpoints").read_bytes().splitlines()
    assert len(checkpoints) == 3 == _signs(kms)  # one AsymmetricSign per committed group (4 + 4 + 2)
    kms.close()  # the verifier needs nothing from the endpoint
    result = verify_log(path, public_key=public)
    assert result.ok, result.summary()
    for raw in checkpoints:
        cp = parse_checkpoint(json.loads(raw))
        assert not isinstance(cp, str) and cp.key_id == signer.key_id and cp.alg == signer.alg
        assert PublicKey(public).verify(cp.alg, cp.signature, cp.message)
    # the same log against a public key of another key version fails
    other = kms.add_key(name.replace("/cryptoKeyVersions/", "/cryptoKeyVersions/9"), ALGORITHMS[name])
    assert not verify_log(path, public_key=_public_pem(other)).ok


def test_a_cloud_kms_signed_run_verifies_from_the_cli_with_the_public_key(
    kms, tmp_path, monkeypatch, capsys, subprocess_env
) -> None:
    """``typedflow run`` with TYPEDFLOW_LINEAGE_KEY=gcpkms:…, its bundle exported with a KMS-signed manifest;
    then, with the endpoint gone, ``typedflow lineage verify --public-key`` and an auditor's own verifier copy
    accept both, and a record edited afterwards fails."""
    from typedflow.cli import main

    pub = tmp_path / "kms.pub"
    pub.write_bytes(_public_pem(kms.add_key(P256, "EC_SIGN_P256_SHA256")))
    flow = tmp_path / "flow.py"
    flow.write_text(
        "from typedflow import task, workflow, map_over\n"
        "@task\ndef double(x: int) -> int:\n    return 2 * x\n"
        "@task\ndef total(xs: list[int]) -> int:\n    return sum(xs)\n"
        "@workflow\ndef flow(n: int = 4) -> int:\n"
        "    return total(xs=map_over(lambda x: double(x=x), [1, 2, 3]))\n"
    )
    home = tmp_path / "home"
    monkeypatch.setenv("TYPEDFLOW_HOME", str(home))
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", f"gcpkms:{P256}")
    assert main(["run", f"{flow}:flow"]) == 0
    bundle = tmp_path / "audit.zip"
    assert main(["lineage", "export", "--all", "--format", "bundle", "-o", str(bundle)]) == 0
    key_id = PublicKey(pub.read_bytes()).key_id
    assert f"manifest signed by key {key_id}" in capsys.readouterr().out
    assert _signs(kms) >= 2  # the run's checkpoint(s) and the manifest
    kms.close()

    env = {k: v for k, v in subprocess_env.items() if k != "TYPEDFLOW_LINEAGE_KEY"}
    env["TYPEDFLOW_HOME"] = str(home)
    tf = [sys.executable, "-m", "typedflow", "lineage", "verify"]
    for target in ([], [str(bundle)]):
        done = subprocess.run(
            [*tf, *target, "--public-key", str(pub)], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"every record signed by key {key_id[:16]}" in done.stdout
    own = tmp_path / "auditor" / "verify_bundle.py"
    own.parent.mkdir()
    own.write_bytes(verifier_source())
    done = subprocess.run(
        [sys.executable, "-I", str(own), str(bundle), "--public-key", str(pub)],
        capture_output=True,
        text=True,
        timeout=60,
        env={},
    )
    assert done.returncode == 0 and done.stdout.startswith("OK: 6 records"), done.stdout + done.stderr
    assert "manifest signed" in done.stdout

    log = next(home.rglob("log.jsonl"))
    lines = log.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"succeeded"', b'"failed"', 1)
    log.write_bytes(b"\n".join(lines))
    done = subprocess.run([*tf, "--public-key", str(pub)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout.startswith("FAIL: edited (line 3"), done.stdout


def test_cloud_records_signed_by_cloud_kms_pull_only_with_its_key(kms, tmp_path, monkeypatch, capsys) -> None:
    """A Vertex-style run (records written as objects under a mounted bucket, checkpoints next to them and in a
    write-once anchor) signed through TYPEDFLOW_LINEAGE_KEY=gcpkms:…; ``lineage pull --public-key`` accepts them
    with the Cloud KMS public key and rejects them with another one."""
    from typedflow.cli import main
    from typedflow.lineage.cloud import put_dir
    from typedflow.lineage.record import new_record

    pub = tmp_path / "kms.pub"
    pub.write_bytes(_public_pem(kms.add_key(ED25519, "EC_SIGN_ED25519")))
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", f"gcpkms:{ED25519}")
    for i in range(3):
        rec = new_record(
            "task",
            run_id="job-7",
            workflow="wf",
            ir_digest="sha256:" + "0" * 64,
            target="vertex",
            executor="vertex-container",
            status="succeeded",
            node_id=f"n{i}",
            task="t",
        )
        put = put_dir(rec, tmp_path / "root", anchor=str(tmp_path / "anchor"))
        assert put.checkpoint is not None and put.anchored is not None
    assert _signs(kms) == 3
    kms.close()
    monkeypatch.delenv("TYPEDFLOW_LINEAGE_KEY")
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    other = tmp_path / "other.pub"
    other.write_bytes(_public_pem(kms.add_key(P256, "EC_SIGN_P256_SHA256")))
    argv = ["lineage", "pull", "job-7", "--target", "vertex", "--from", str(tmp_path / "root")]
    assert main([*argv, "--public-key", str(other)]) == 1
    out = capsys.readouterr()
    assert "3 rejected; 0 verified" in out.out and "no checkpoint signed with the trusted key" in out.err
    assert main([*argv, "--public-key", str(pub), "--anchor", str(tmp_path / "anchor")]) == 0
    key_id = PublicKey(pub.read_bytes()).key_id
    assert (
        f"3 appended, 0 already present, 0 rejected, 0 anchor problem(s); 3 verified with key {key_id[:16]}"
        in capsys.readouterr().out
    )


def test_unusable_cloud_kms_keys_are_refused_with_their_reason(kms, monkeypatch) -> None:
    client = kms.client()
    with pytest.raises(SigningError, match="expected a key version, projects/P/locations/L"):
        signer_from_spec("gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k", kms_client=client)
    with pytest.raises(SigningError, match="cannot read the public key: 404"):
        GcpKmsSigner(P256, client)
    rsa = P256.replace("/p256/", "/rsa/")
    kms.add_key(rsa, "RSA_SIGN_PKCS1_2048_SHA256")
    with pytest.raises(SigningError, match="expected an EC_SIGN_P256_SHA256 or EC_SIGN_ED25519 key version, found RSA"):
        GcpKmsSigner(rsa, client)
    # a signature damaged on the wire is caught by its CRC32C and never becomes a checkpoint
    kms.add_key(P256, "EC_SIGN_P256_SHA256")
    signer = GcpKmsSigner(P256, client)
    kms.corrupt_signatures = True
    with pytest.raises(SigningError, match="corrupted in transit"):
        signer.sign(b"message")
    kms.corrupt_signatures = False
    # key material that no longer matches the public key read at start: refused before it is written
    kms.add_key(P256, "EC_SIGN_P256_SHA256")
    with pytest.raises(SigningError, match="does not verify with the key version's public key"):
        signer.sign(b"message")
    # the configured key: a spec that names a key version is loaded through the client once and cached
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", f"gcpkms:{P256}")
    first = configured_signer()
    assert isinstance(first, GcpKmsSigner) and configured_signer() is first


def test_without_credentials_a_cloud_kms_key_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", f"gcpkms:{P256}")
    signing._cached.cache_clear()
    with pytest.raises(SigningError, match=r"cannot create a Cloud KMS client: .*missing\.json"):
        configured_signer()


def test_a_refused_signature_leaves_no_unsigned_records(kms, tmp_path, make_record) -> None:
    kms.add_key(P256, "EC_SIGN_P256_SHA256")
    path = tmp_path / "log.jsonl"
    log = LineageLog(path, flush_every=100, fsync=False, signer=GcpKmsSigner(P256, kms.client()))
    log.append(make_record(0))
    log.flush()
    before = path.read_bytes(), path.with_name("log.jsonl.checkpoints").read_bytes()
    kms.disabled.add(P256)
    log.append(make_record(1))
    with pytest.raises(SigningError, match=r"400 .*is not enabled, current state is: DISABLED"):
        log.flush()
    assert (path.read_bytes(), path.with_name("log.jsonl.checkpoints").read_bytes()) == before
    kms.close()
    result = verify_log(path, public_key=_public_pem(kms.keys[P256][1]))
    assert result.ok and result.count == 1, result.summary()
