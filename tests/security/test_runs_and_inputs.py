"""Runs and run inputs: one live process per run, nothing recorded twice, no orphan workers, and inputs
that are huge, deep, oddly encoded or not regular files are bad input (exit 2), never a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "typedflow", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )


def _popen(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "typedflow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _run_id(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    return line.split()[1]  # "run <id> started (...)"


def test_a_live_run_cannot_be_resumed_twice(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    proc = _popen(
        "run",
        "tests.security.flows:lingers",
        "--store",
        str(tmp_path),
        "--input",
        "seconds=120",  # until the test releases it, below
        "--input",
        f"marker={marker}",
        "--log-format",
        "plain",
    )
    try:
        run_id = _run_id(proc)
        r = _cli("run", "tests.security.flows:lingers", "--resume", run_id, "--store", str(tmp_path))
        assert r.returncode == 2
        assert "still running in another process" in r.stderr and "Traceback" not in r.stderr
    finally:
        Path(f"{marker}.release").touch()
        proc.wait(timeout=60)
    assert proc.returncode == 0


def test_resuming_a_finished_run_records_nothing(tmp_path: Path) -> None:
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=4", "--log-format", "plain")
    assert r.returncode == 0 and json.loads(r.stdout) == 8
    run_id = r.stderr.split()[1]
    log = tmp_path / "lineage" / "log.jsonl"
    before = log.read_bytes()
    again = _cli("run", "tests.security.flows:doubled", "--resume", run_id, "--store", str(tmp_path))
    assert again.returncode == 0 and json.loads(again.stdout) == 8
    assert log.read_bytes() == before


def test_a_resume_id_is_never_a_path(tmp_path: Path) -> None:
    r = _cli("run", "tests.security.flows:doubled", "--resume", "../../etc", "--store", str(tmp_path))
    assert r.returncode == 2 and "not a run id" in r.stderr


def test_process_workers_die_with_their_parent(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    proc = _popen(
        "run",
        "tests.security.flows:lingers",
        "--store",
        str(tmp_path),
        "--isolation",
        "process",
        "--input",
        "seconds=4",
        "--input",
        f"marker={marker}",
        "--log-format",
        "plain",
    )
    _run_id(proc)
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while not workers and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = _children(proc.pid)
    assert workers, "no worker process started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    time.sleep(4.5)
    assert not marker.exists()  # the task never went on to write


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "procworker" in _cmdline(d):
                out.append(int(d.name))
    return out


def _cmdline(d: Path) -> str:
    try:
        return (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_text('{"x": ' + "1" * 5000 + "}"), "not JSON"),
        (lambda p: p.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"), "nested"),
        (lambda p: p.write_bytes(b'{"x": "\xff"}'), "not UTF-8"),
        (lambda p: p.write_text("[1, 2]"), "JSON object"),
    ],
    ids=["huge int", "deep", "not utf-8", "not an object"],
)
def test_bad_inputs_files(tmp_path: Path, make: object, says: str) -> None:
    path = tmp_path / "inputs.json"
    make(path)  # type: ignore[operator]
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path / "s"), "--inputs-file", str(path))
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr


def test_bad_command_line_inputs(tmp_path: Path) -> None:
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=" + "9" * 5000)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=" + "[" * 5000)
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_only_regular_files_are_read_as_inputs(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    r = _cli(
        "run", "tests.security.flows:roundtrip_file", "--store", str(tmp_path / "s"), "--input", f"f={path}", timeout=30
    )
    assert r.returncode == 2, r.stderr
    assert "not a regular file" in r.stderr
    r = _cli(
        "run", "tests.security.flows:doubled", "--store", str(tmp_path / "s"), "--inputs-file", str(path), timeout=30
    )
    assert r.returncode == 2 and "not a regular file" in r.stderr
