"""Bundles: a chained slice of the log that an auditor verifies with the standard library alone."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from typedflow.lineage import verify_bundle, verify_log
from typedflow.lineage.export.bundle import export_bundle, verifier_source


@pytest.fixture(scope="module")
def plain_python(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A python that cannot import typedflow: the base interpreter with -I (the venv may hold an
    editable install of typedflow), else the venv's without site-packages."""
    cwd = tmp_path_factory.mktemp("plain")
    for cmd in ([sys._base_executable, "-I"], [sys.executable, "-I", "-S"]):  # type: ignore[attr-defined]  # not in typeshed
        probe = subprocess.run([*cmd, "-c", "import typedflow"], capture_output=True, cwd=cwd, env={})
        if probe.returncode != 0:
            return cmd
    raise AssertionError("no interpreter without typedflow on its path")


def _audit(python: list[str], bundle: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the bundled verifier with a python that has no typedflow on its path."""
    script = bundle / "verify_bundle.py" if bundle.is_dir() else cwd / "verify_bundle.py"
    if not bundle.is_dir():
        with zipfile.ZipFile(bundle) as zf:
            script.write_bytes(zf.read("verify_bundle.py"))
    return subprocess.run(
        [*python, str(script), str(bundle)], capture_output=True, text=True, cwd=cwd, timeout=60, env={}
    )


def test_verifier_is_stdlib_only() -> None:
    source = verifier_source().decode()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= sys.stdlib_module_names | {"__future__"}
    # cryptography is imported only where a signature is checked, inside a function
    assert all(line.startswith(" ") for line in source.splitlines() if "import cryptography" in line)


def test_plain_python_cannot_see_typedflow(plain_python, tmp_path) -> None:
    probe = subprocess.run([*plain_python, "-c", "import typedflow"], capture_output=True, cwd=tmp_path, env={})
    assert probe.returncode != 0 and b"No module named 'typedflow'" in probe.stderr


def test_run_bundle_dir_verifies_in_isolated_python(three_step, plain_python, tmp_path) -> None:
    out = tmp_path / "bundle"
    manifest = export_bundle(three_step.log, out, run_ids=[three_step.run_id])
    # The selected run spans log lines 1..6 and includes the other run's record in between.
    assert (manifest["first_seq"], manifest["last_seq"], manifest["count"]) == (0, 5, 6)
    assert manifest["runs_in_range"] == sorted([three_step.run_id, three_step.other_run_id])
    assert manifest["head_hash"] == verify_log(three_step.log).head_hash
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints.jsonl",
        "manifest.json",
        "records.jsonl",
        "verify_bundle.py",
    ]
    done = _audit(plain_python, out, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"OK: 6 records, head {manifest['head_hash']}"
    assert verify_bundle(out).ok


def test_sub_range_is_anchored_to_the_previous_record(make_record, write_log, plain_python, tmp_path) -> None:
    log = tmp_path / "log.jsonl"
    recs = [make_record(i, run_id=("a" if i < 5 else "b" if i < 12 else "c") * 32) for i in range(20)]
    write_log(log, recs)
    out = tmp_path / "b.zip"
    manifest = export_bundle(log, out, run_ids=["b" * 32])
    assert (manifest["first_seq"], manifest["last_seq"]) == (5, 11)
    lines = log.read_bytes().split(b"\n")
    import hashlib

    assert manifest["first_prev_hash"] == hashlib.sha256(lines[4]).hexdigest()
    done = _audit(plain_python, out, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: 7 records, head ")
    assert verify_bundle(out).ok


def test_tampered_bundle_fails_in_isolated_python(small_log, plain_python, tmp_path) -> None:
    out = tmp_path / "bundle"
    export_bundle(small_log, out)
    records = out / "records.jsonl"
    lines = records.read_bytes().split(b"\n")[:-1]
    rec = json.loads(lines[3])
    rec["status"] = "failed"
    lines[3] = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
    records.write_bytes(b"".join(line + b"\n" for line in lines))
    # The edited record is named even though the file no longer matches the manifest's digest ...
    done = _audit(plain_python, out, tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL: edited (line 4, seq 3, record ")
    # ... and when the manifest digest is forged to match, the chain still gives the record away.
    import hashlib

    manifest = json.loads((out / "manifest.json").read_text())
    manifest["records_sha256"] = hashlib.sha256(records.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    done = _audit(plain_python, out, tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL: edited (line 4, seq 3, record ")
    result = verify_bundle(out)
    assert done.stdout.strip() == result.summary()  # the same verdict, word for word
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.seq) == ("edited", 4, 3)


def test_truncated_bundle_fails(small_log, plain_python, tmp_path) -> None:
    out = tmp_path / "bundle"
    export_bundle(small_log, out)
    records = out / "records.jsonl"
    records.write_bytes(b"".join(line + b"\n" for line in records.read_bytes().split(b"\n")[:-3]))
    done = _audit(plain_python, out, tmp_path)
    assert done.returncode == 1 and "FAIL" in done.stdout
    result = verify_bundle(out)
    assert not result.ok and result.failure is not None
    assert result.failure.reason in ("truncated", "manifest-mismatch")


def test_export_refuses_a_broken_log(small_log, tmp_path) -> None:
    lines = small_log.read_bytes().split(b"\n")[:-1]
    del lines[4]
    small_log.write_bytes(b"".join(line + b"\n" for line in lines))
    with pytest.raises(Exception, match="deleted"):
        export_bundle(small_log, tmp_path / "out")


def test_unknown_run_is_an_error(small_log, tmp_path) -> None:
    with pytest.raises(ValueError):
        export_bundle(small_log, tmp_path / "out", run_ids=["nope"])


def test_record_appended_to_bundle_is_caught(small_log, make_record, plain_python, tmp_path) -> None:
    import hashlib

    import attrs

    from typedflow.lineage.record import record_line

    out = tmp_path / "bundle"
    manifest = export_bundle(small_log, out)
    records = out / "records.jsonl"
    extra = attrs.evolve(make_record(7), seq=20, prev_hash=manifest["head_hash"])
    records.write_bytes(records.read_bytes() + record_line(extra) + b"\n")
    manifest["records_sha256"] = hashlib.sha256(records.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = verify_bundle(out)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.record_id) == ("inserted", 21, extra.record_id)
    assert _audit(plain_python, out, tmp_path).returncode == 1


def test_a_run_bundle_carries_the_checkpoints_that_sign_it_and_their_key_ids(
    make_record, keypair, other_keypair, tmp_path
) -> None:
    """Run A's bundle reaches to the end of the checkpoint that signs its last record (which also covers a record
    of run B) and carries that checkpoint alone; run B's, which spans a key rotation, carries both keys' ids."""
    from typedflow.lineage import LineageLog
    from typedflow.lineage.signing import load_key_file

    a, b = "a" * 32, "b" * 32
    log = tmp_path / "log.jsonl"
    first, second = load_key_file(keypair.key), load_key_file(other_keypair.key)
    with LineageLog(log, flush_every=4, fsync=False, signer=first) as lg:
        for i, run in enumerate((a, a, a, b)):
            lg.append(make_record(i, run_id=run))
    with LineageLog(log, flush_every=4, fsync=False, signer=second) as lg:
        for i in (4, 5):
            lg.append(make_record(i, run_id=b))
    cp_lines = log.with_name("log.jsonl.checkpoints").read_bytes().splitlines(keepends=True)
    assert len(cp_lines) == 2

    ma = export_bundle(log, tmp_path / "a", run_ids=[a], signer=first)
    assert (ma["first_seq"], ma["last_seq"], ma["count"]) == (0, 3, 4)
    assert (ma["checkpoints"], ma["checkpoint_key_ids"], ma["key_id"]) == (1, [keypair.key_id], keypair.key_id)
    assert (tmp_path / "a" / "checkpoints.jsonl").read_bytes() == cp_lines[0]
    assert json.loads((tmp_path / "a" / "manifest.sig").read_bytes())["key_id"] == keypair.key_id
    ok = verify_bundle(tmp_path / "a", public_key=keypair.public)
    assert ok.ok, ok.summary()

    mb = export_bundle(log, tmp_path / "b.zip", run_ids=[b], signer=second)
    assert (mb["first_seq"], mb["last_seq"], mb["checkpoints"]) == (3, 5, 2)
    assert mb["checkpoint_key_ids"] == sorted([keypair.key_id, other_keypair.key_id])
    assert mb["key_id"] == other_keypair.key_id
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.read("checkpoints.jsonl") == b"".join(cp_lines)
    # one public key vouches only for its own checkpoints: record 3 was signed before the rotation
    rotated = verify_bundle(tmp_path / "b.zip", public_key=other_keypair.public)
    assert not rotated.ok and "unanchored" in rotated.summary()
