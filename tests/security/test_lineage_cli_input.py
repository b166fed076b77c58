"""``typedflow lineage`` with paths that are not what they should be (a folder for an output file, a FIFO for
a log or a key, a name too long for the OS) or a log that was cut: one line naming the problem, never a
traceback or a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run_cli as _cli
from typedflow.cli import main


def _store(tmp_path: Path) -> tuple[Path, str]:
    """A store with one run; its lineage log and the run id."""
    assert main(["run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=3"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    return tmp_path / "lineage" / "log.jsonl", run_dir.name


@pytest.mark.parametrize("fmt", ["prov-json", "openlineage"])
def test_an_export_to_a_folder_is_bad_input(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    log, run_id = _store(tmp_path)
    capsys.readouterr()
    assert main(["lineage", "--log", str(log), "export", run_id, "--format", fmt, "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"typedflow lineage export: {tmp_path}: Is a directory\n"


def test_a_bundle_where_nothing_can_be_written_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, run_id = _store(tmp_path)
    capsys.readouterr()
    out = "/proc/typedflow-audit.zip"  # no file can be made in /proc, not even by root
    assert main(["lineage", "--log", str(log), "export", run_id, "--format", "bundle", "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("typedflow lineage export: /proc/typedflow-audit.zip") and "No such file" in err


def test_an_artifact_name_too_long_for_the_os_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, _ = _store(tmp_path)
    capsys.readouterr()
    assert main(["lineage", "--log", str(log), "trace", "a" * 5000]) == 2
    err = capsys.readouterr().err
    assert "File name too long" in err and len(err) < 400


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["runs"], "is not a regular file"),
        (["export", "--all", "--format", "prov-json", "-o", "-"], "is not a regular file"),
        (["verify"], "FAIL: "),
    ],
)
def test_a_fifo_for_the_log_is_refused_not_read(tmp_path: Path, args: list[str], says: str) -> None:
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    r = _cli("lineage", "--log", str(fifo), *args)
    assert r.returncode in (1, 2) and says in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_a_fifo_for_a_public_key_is_refused_not_read(tmp_path: Path) -> None:
    log, _ = _store(tmp_path)
    fifo = tmp_path / "key.pub"
    os.mkfifo(fifo)
    r = _cli("lineage", "--log", str(log), "verify", "--public-key", str(fifo))
    assert r.returncode == 2 and f"--public-key {fifo}: not a regular file" in r.stderr


def test_exporting_a_cut_log_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, run_id = _store(tmp_path)
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:1]))
    capsys.readouterr()
    out = tmp_path / "audit.zip"
    assert main(["lineage", "--log", str(log), "export", run_id, "--format", "bundle", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("typedflow lineage export: ") and "missing" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "kind"),
    [("log.jsonl.head", "fifo"), ("log.jsonl.head", "deep"), ("log.jsonl.checkpoints", "fifo")],
)
def test_a_run_on_a_damaged_head_or_checkpoints_file_is_bad_input(tmp_path: Path, name: str, kind: str) -> None:
    _store(tmp_path)
    path = tmp_path / "lineage" / name
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_text("[" * 100_000)
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=4")
    assert r.returncode == 2 and "the lineage log refuses new records" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_verify_does_not_wait_on_a_fifo_head_or_bundle_member(tmp_path: Path) -> None:
    log, run_id = _store(tmp_path)
    bundle = tmp_path / "bundle"
    assert main(["lineage", "--log", str(log), "export", run_id, "--format", "bundle", "-o", str(bundle)]) == 0
    (bundle / "records.jsonl").unlink()
    os.mkfifo(bundle / "records.jsonl")
    r = _cli("lineage", "verify", str(bundle))
    assert r.returncode == 1 and "FAIL" in r.stdout and "Traceback" not in r.stderr, r.stdout + r.stderr
    head = tmp_path / "lineage" / "log.jsonl.head"
    head.unlink()
    os.mkfifo(head)
    r = _cli("lineage", "--log", str(log), "verify")
    assert r.returncode == 1 and "FAIL" in r.stdout and "Traceback" not in r.stderr, r.stdout + r.stderr
