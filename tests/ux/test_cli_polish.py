"""Help texts, file modes, closed pipes, unknown workflow names and what modules print on import."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from typedflow.backend import available
from typedflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODULE = """\
import sys

from typedflow import task, workflow

print("hello from the module")


@task
def inc(x: int) -> int:
    print("hello from the task")
    sys.stdout.buffer.write(b"bytes from the task\\n")  # (code that writes bytes to sys.stdout)
    sys.stdout.buffer.flush()
    return x + 1


@workflow
def first(x: int) -> int:
    return inc(x=x)


@workflow
def second(x: int) -> int:
    return inc(x=inc(x=x))
"""


def tf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "typedflow", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "chatty_flows.py"
    path.write_text(MODULE)
    return path


def test_target_commands_say_where_target_options_are() -> None:
    targets = ", ".join(available())
    for command in ("compile", "deploy", "start"):
        r = tf(command, "--help")
        assert r.returncode == 0
        text = " ".join(r.stdout.split())
        assert (
            f"Each target has options of its own, listed with --target: `typedflow {command} --target TARGET "
            f"--help` (TARGET: {targets})." in text
        ), r.stdout
    # with a target, its options are there and the pointer is not
    r = tf("deploy", "--target", "stepfunctions", "--help")
    assert r.returncode == 0 and "--executor" in r.stdout and "Each target has options" not in r.stdout


def test_worker_help_shows_the_targets_that_have_a_worker() -> None:
    workers = sorted(n for n, b in available().items() if b.worker is not None)
    assert workers  # stepfunctions
    r = tf("worker", "--help")
    assert r.returncode == 0
    assert f"the target whose tasks to serve: {', '.join(workers)}" in " ".join(r.stdout.split())
    r = tf("worker", "ir")
    assert r.returncode == 2 and f"invalid choice: 'ir' (choose from {', '.join(repr(w) for w in workers)})" in r.stderr


@pytest.fixture
def umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_written_files_honour_the_umask(tmp_path: Path, module: Path, umask: None) -> None:
    ir_file, graph_file = tmp_path / "out" / "wf.json", tmp_path / "wf.mmd"
    assert main(["compile", f"{module}:first", "--target", "ir", "-o", str(ir_file)]) == 0
    assert main(["graph", f"{module}:first", "-o", str(graph_file)]) == 0
    assert stat.S_IMODE(ir_file.stat().st_mode) == 0o644
    assert stat.S_IMODE(graph_file.stat().st_mode) == 0o644
    os.umask(0o077)
    assert main(["compile", f"{module}:first", "--target", "ir", "-o", str(ir_file)]) == 0
    assert stat.S_IMODE(ir_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in ir_file.parent.iterdir()) == ["wf.json"]  # no temp file left
    from typedflow.runtime.atomic import write_bytes

    os.umask(0o002)
    write_bytes(tmp_path / "x", b"1")
    write_bytes(tmp_path / "y", b"1", mode=0o600)
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "y").stat().st_mode) == 0o600


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path, module: Path) -> None:
    store = tmp_path / "store"
    for x in range(3):
        r = tf("run", f"{module}:second", "--input", f"x={x}", "--store", str(store))
        assert r.returncode == 0, r.stderr
    run_id = re.findall(r"^run (\S+) started", r.stderr, re.M)[0]
    log = str(store / "lineage" / "log.jsonl")
    for args in (["lineage", "show", run_id, "--log", log], ["lineage", "runs", "--log", log]):
        proc = _into_a_gone_reader(*args)  # `typedflow lineage show RUN | head -0`
        assert proc.returncode == 141 and proc.stderr == "", (args, proc.stderr)
    shell = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m typedflow lineage show {run_id} --log {log} | head -1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert shell.stdout.startswith(f"run {run_id}") and len(shell.stdout.splitlines()) == 1
    assert "Error" not in shell.stderr and "Traceback" not in shell.stderr


def _into_a_gone_reader(*args: str) -> subprocess.CompletedProcess[str]:
    """``typedflow ARGS`` with its stdout a pipe whose reader is gone before anything is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "typedflow", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
    finally:
        os.close(write)


def test_compile_to_a_reader_that_has_gone_exits_141_quietly(module: Path) -> None:
    # `typedflow compile ... | head -0`: a closed stdout is no file compile could not write (exit 2)
    proc = _into_a_gone_reader("compile", f"{module}:first", "--target", "ir")
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == "hello from the module\n"  # what the module prints; no "cannot write"


def test_an_unknown_workflow_name_lists_the_workflows_there(module: Path) -> None:
    r = tf("run", f"{module}:nope", "--input", "x=1")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.endswith(
        f"error: {module} has no workflow named 'nope' (nope is not defined there); its workflows: first, second\n"
    ), r.stderr
    r = tf("compile", f"{module}:inc", "--target", "ir")
    assert r.returncode == 2
    assert "has no workflow named 'inc' (inc is not a workflow); its workflows: first, second" in r.stderr


def test_what_a_module_prints_on_import_goes_to_stderr(tmp_path: Path, module: Path) -> None:
    r = tf("run", f"{module}:first", "--input", "x=1", "--store", str(tmp_path / "s"), "--log-format", "plain")
    assert r.returncode == 0 and json.loads(r.stdout) == 2, r.stdout
    assert "hello from the module\n" in r.stderr and "hello from the task\n" in r.stderr
    assert "bytes from the task\n" in r.stderr
    r = tf("compile", f"{module}:first", "--target", "ir")
    assert r.returncode == 0 and json.loads(r.stdout)["workflow"]["name"] == "first"
    assert r.stderr == "hello from the module\n"
    r = tf("graph", f"{module}:first")
    assert r.returncode == 0 and r.stdout.startswith("---\ntitle:") and "hello" not in r.stdout
    r = tf("check", str(module))
    assert r.returncode == 0 and r.stdout.startswith("Success: 2 workflows and 1 task checked")
    r = tf("check", f"{module}:first")
    assert r.returncode == 0 and r.stdout.startswith("Success: 2 workflows and 1 task checked")
    r = tf("check", f"{module}:frist")  # a name the module does not define is an error, not a silent success
    assert r.returncode == 1 and "has no workflow named 'frist'" in r.stdout + r.stderr
    assert "hello" not in r.stdout and "hello from the module" in r.stderr
    # with JSON progress, a line a task prints is an event of its own: stderr stays JSON lines
    r = tf("run", f"{module}:first", "--input", "x=5", "--store", str(tmp_path / "s"), "--log-format", "json")
    # (lines that are not JSON: the module's, printed while importing, and the bytes the task wrote)
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    assert {"event": "print", "text": "hello from the task"} in events


def test_a_py_spec_that_is_not_a_file_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "folder.py").mkdir()
    os.mkfifo(tmp_path / "pipe.py")
    for name in ("folder.py", "pipe.py"):
        r = tf("run", f"{name}:wf", cwd=tmp_path)
        assert r.returncode == 2 and f"{name} is not a file" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_an_int_enum_input_on_the_command_line_is_the_member(tmp_path: Path) -> None:
    spec = "tests.support.construct_flows:by_level"
    ok = subprocess.run(
        [sys.executable, "-m", "typedflow", "run", spec, "--store", str(tmp_path / "s"), "--input", "level=2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == "high"  # the condition `level == Level.HIGH` held
    bad = subprocess.run(
        [sys.executable, "-m", "typedflow", "run", spec, "--store", str(tmp_path / "s"), "--input", "level=HIGH"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert 'input "level": expected Level as JSON' in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "{flows}:doubled", "--input", "x=3", "--store", ""],
        ["runs", "list", "--store", ""],
        ["graph", "{flows}:doubled", "--run", "20250101-030000-1a2b3c4d", "--store", ""],
        ["lineage", "--log", "", "runs"],
        ["lineage", "runs", "--log", ""],
    ],
    ids=["run", "runs", "graph", "lineage", "lineage-sub"],
)
def test_an_empty_store_or_log_is_bad_input_not_the_default(tmp_path: Path, args: list[str]) -> None:
    """An unset shell variable (``--store "$STORE"``) must not quietly use ./.typedflow."""
    flows = Path(__file__).resolve().parents[1] / "security" / "flows.py"
    r = tf(*[a.replace("{flows}", str(flows)) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "an empty path (leave the option out to use the default)" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / ".typedflow").exists()
