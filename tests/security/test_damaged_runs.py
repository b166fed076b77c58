"""A run directory whose files were damaged or replaced (not JSON, nested too deep, the wrong type, a FIFO, a
symbolic link out of the store): ``typedflow runs`` and resume say what is wrong or carry on without it,
never a traceback or a hang, and never serve what the files claim without checking it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_cli as _cli
from typedflow.cli import main


def _run(store: Path, x: int = 3) -> str:
    """A finished run of ``doubled`` (x * 2); its id."""
    assert main(["run", "tests.security.flows:doubled", "--store", str(store), "--input", f"x={x}"]) == 0
    (run_dir,) = (store / "runs").iterdir()
    return run_dir.name


@pytest.mark.parametrize("name", ["meta.json", "status.json", "failures.json"])
def test_a_deeply_nested_run_file_is_ignored_with_a_warning(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run_id = _run(tmp_path)
    capsys.readouterr()
    (tmp_path / "runs" / run_id / name).write_text("[" * 100_000)
    with caplog.at_level(logging.WARNING):
        for command in ("list", "show", "outputs"):
            args = ["runs", command, "--store", str(tmp_path)] + ([] if command == "list" else [run_id])
            assert main(args) == 0
    assert run_id in capsys.readouterr().out
    if name != "failures.json":  # a run that succeeded does not read its failures
        assert f"{name}: JSON nested too deeply" in caplog.text


@pytest.mark.parametrize("duration", ["1e308", "-1e308", "Infinity", "NaN", '"soon"'])
def test_a_duration_out_of_range_is_not_shown(
    tmp_path: Path, duration: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path)
    (tmp_path / "runs" / run_id / "status.json").write_text(
        '{"status": "succeeded", "outputs": {"out": 6}, "duration": ' + duration + "}"
    )
    capsys.readouterr()
    assert main(["runs", "list", "--store", str(tmp_path)]) == 0
    assert main(["runs", "show", run_id, "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "1e+308" not in out and "inf" not in out


def test_a_status_that_is_not_a_state_is_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _run(tmp_path)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "status.json").write_text(json.dumps({"status": "\x1b[2J\x1b[31mpwned", "duration": 1}))
    (run_dir / "meta.json").write_text(json.dumps({"workflow": "\x1b]0;title\x07doubled", "started": "x"}))
    capsys.readouterr()
    assert main(["runs", "list", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "pwned" not in out
    # the journal still says how the run ended
    assert out.splitlines()[1].split()[1:2] == ["succeeded"]


@pytest.mark.parametrize("name", ["meta.json", "status.json", "failures.json", "journal.jsonl", "logs/number/1.log"])
def test_a_fifo_in_a_run_directory_is_not_read(tmp_path: Path, name: str) -> None:
    run_id = _run(tmp_path, x=4)
    path = tmp_path / "runs" / run_id / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    for command in ("show", "outputs", "logs"):
        r = _cli("runs", command, run_id, "--store", str(tmp_path), timeout=60)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
    r = _cli("runs", "list", "--store", str(tmp_path))
    assert r.returncode == 0 and run_id in r.stdout and "Traceback" not in r.stderr


def test_a_log_linked_out_of_the_store_is_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _run(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("private content\n")
    logs = tmp_path / "runs" / run_id / "logs" / "number"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "1.log").unlink(missing_ok=True)
    (logs / "1.log").symlink_to(outside)
    capsys.readouterr()
    assert main(["runs", "logs", run_id, "--store", str(tmp_path)]) == 0
    assert "private content" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "line",
    [
        "[1]",
        '{"status": "succeeded"}',
        '{"key": 5, "status": "succeeded", "outputs": {"out": 1}}',
        '{"key": "number", "status": "succeeded", "outputs": 5}',
        '{"key": "number", "status": "succeeded", "outputs": {"out": "not an int"}}',
        '{"key": "number", "status": "succeeded", "outputs": {"out": 1, "extra": 2}}',
        "[" * 100_000,
    ],
)
def test_a_forged_journal_line_is_not_served_on_resume(
    tmp_path: Path, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path, x=5)
    run_dir = tmp_path / "runs" / run_id
    # an interrupted run whose journal claims its task finished with these outputs
    (run_dir / "status.json").unlink()
    (run_dir / "journal.jsonl").write_text(line + "\n")
    capsys.readouterr()
    assert main(["runs", "retry", run_id, "--store", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == 10  # the task ran again


@pytest.mark.parametrize(
    "end",
    [
        '{"key": "$run", "status": "succeeded", "outputs": {"out": "not an int"}, "duration": 1}',
        '{"key": "$run", "status": "succeeded", "outputs": {"out": 10}, "duration": "x"}',
        '{"key": "$run", "status": "succeeded", "outputs": [], "duration": 1}',
    ],
)
def test_a_forged_end_of_a_run_is_bad_input_on_resume(
    tmp_path: Path, end: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path, x=5)
    (tmp_path / "runs" / run_id / "journal.jsonl").write_text(end + "\n")
    capsys.readouterr()
    rc = main(["run", "tests.security.flows:doubled", "--resume", run_id, "--store", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert f"cannot resume run {run_id}" in captured.err and "journal.jsonl" in captured.err


@pytest.mark.parametrize("kind", ["symlink", "folder", "fifo"])
def test_cache_entries_that_are_not_a_file_are_bad_input_before_the_run(tmp_path: Path, kind: str) -> None:
    meta = tmp_path / "store" / "meta.jsonl"
    meta.parent.mkdir(parents=True)
    if kind == "symlink":
        (tmp_path / "elsewhere.jsonl").write_text("")
        meta.symlink_to(tmp_path / "elsewhere.jsonl")
    elif kind == "folder":
        meta.mkdir()
    else:
        os.mkfifo(meta)
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=2")
    assert r.returncode == 2, r.stderr
    said = "a symbolic link" if kind == "symlink" else "not a regular file"
    assert "Traceback" not in r.stderr and f"the store's cache entries {meta} are {said}" in r.stderr
    assert not (tmp_path / "runs").exists()  # nothing started
    assert (tmp_path / "elsewhere.jsonl").read_text() == "" if kind == "symlink" else True


def test_a_deeply_nested_cache_entry_line_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = tmp_path / "store" / "meta.jsonl"
    meta.parent.mkdir(parents=True)
    meta.write_text("[" * 100_000 + "\n")
    assert main(["run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=2"]) == 0
    assert json.loads(capsys.readouterr().out) == 4


def test_a_run_on_a_lineage_log_that_refuses_records_is_bad_input(tmp_path: Path) -> None:
    run_id = _run(tmp_path)
    log = tmp_path / "lineage" / "log.jsonl"
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:1]))  # records the head names are gone
    r = _cli("run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=2")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "the lineage log refuses new records" in r.stderr and "missing" in r.stderr
    assert [d.name for d in (tmp_path / "runs").iterdir()] == [run_id]  # no half-started run
    (tmp_path / "runs" / run_id / "status.json").unlink()  # as if interrupted
    (tmp_path / "runs" / run_id / "journal.jsonl").write_text("")
    r = _cli("runs", "retry", run_id, "--store", str(tmp_path))
    assert r.returncode == 2 and "the lineage log refuses new records" in r.stderr and "Traceback" not in r.stderr


def test_cancel_does_not_write_through_a_link_planted_in_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    run_id = _run(tmp_path)
    run_dir = tmp_path / "runs" / run_id
    target = tmp_path / "elsewhere"
    (run_dir / "cancelled").symlink_to(target)
    sleeper = subprocess.Popen(["sleep", "60"])
    fd = os.open(run_dir / "lock", os.O_RDWR)
    try:  # the run looks alive: its lock is held, and names the sleeper as its process
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(sleeper.pid).encode(), 0)
        assert main(["runs", "cancel", run_id, "--store", str(tmp_path)]) == 0
        assert sleeper.wait(timeout=30) == -15  # SIGTERM
    finally:
        os.close(fd)
        sleeper.kill()
        sleeper.wait()
    assert not target.exists()


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ("5", "not a JSON object of inputs"),
        ('{"x": "5"}', "input 'x': expected int, got str"),
        ('{"x": 5, "y": 1}', "the workflow has no input 'y'"),
    ],
)
def test_edited_inputs_are_bad_input_on_resume(
    tmp_path: Path, inputs: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path, x=5)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "status.json").unlink()
    (run_dir / "journal.jsonl").write_text("")  # interrupted before its task finished
    (run_dir / "inputs.json").write_text(inputs)
    capsys.readouterr()
    assert main(["runs", "retry", run_id, "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume run {run_id}: " in err and says in err


def test_a_journal_that_is_a_link_is_bad_input_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _run(tmp_path, x=5)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "status.json").unlink()
    (tmp_path / "elsewhere").write_text("")
    (run_dir / "journal.jsonl").unlink()
    (run_dir / "journal.jsonl").symlink_to(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["runs", "retry", run_id, "--store", str(tmp_path)]) == 2
    assert f"cannot resume run {run_id}: " in capsys.readouterr().err
    assert (tmp_path / "elsewhere").read_text() == ""


def test_outputs_of_the_wrong_type_are_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _run(tmp_path)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "status.json").write_text('{"status": "succeeded", "duration": 1, "outputs": {"out": "six"}}')
    capsys.readouterr()
    assert main(["runs", "outputs", run_id, "--store", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == 6  # the journal's end line, which holds an int
    (run_dir / "journal.jsonl").write_text("")
    assert main(["runs", "outputs", run_id, "--store", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "holds the workflow's outputs" in captured.err


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink"])
def test_a_lock_that_is_not_a_file_is_not_waited_on_and_is_bad_input_on_resume(tmp_path: Path, kind: str) -> None:
    run_id = _run(tmp_path, x=5)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "status.json").unlink()  # interrupted: whether a process still holds it is asked of its lock
    (run_dir / "journal.jsonl").write_text("")
    lock = run_dir / "lock"
    lock.unlink()
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "folder":
        lock.mkdir()
    else:
        (tmp_path / "elsewhere").write_text("")
        lock.symlink_to(tmp_path / "elsewhere")
    r = _cli("runs", "list", "--store", str(tmp_path))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.splitlines()[1].split()[:3] == [run_id, "doubled", "interrupted"]
    r = _cli("runs", "show", run_id, "--store", str(tmp_path))
    assert r.returncode == 0 and "status    interrupted" in r.stdout, r.stderr
    r = _cli("graph", "--run", run_id, "--store", str(tmp_path))
    assert r.returncode == 0 and "interrupted" in r.stdout, r.stderr
    r = _cli("runs", "retry", run_id, "--store", str(tmp_path))
    said = "is a symbolic link" if kind == "symlink" else "is not a regular file"
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().endswith(f"cannot resume run {run_id}: {lock} {said}"), r.stderr
    assert lock.is_symlink() if kind == "symlink" else lock.exists()  # left as it was
    assert (tmp_path / "elsewhere").read_text() == "" if kind == "symlink" else True


@pytest.mark.parametrize("name", ["status.json", "failures.json", "cancelled"])
def test_a_folder_in_place_of_a_file_a_retry_removes_is_bad_input(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path, x=5)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "journal.jsonl").write_text("")  # its task must run again
    (run_dir / "status.json").write_text('{"status": "failed", "duration": 1, "outputs": {}}')
    (run_dir / name).unlink(missing_ok=True)
    (run_dir / name).mkdir()
    (run_dir / name / "kept").write_text("")
    capsys.readouterr()
    assert main(["runs", "retry", run_id, "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{run_dir / name}" in err.splitlines()[-1], err
    assert f"run {run_id}: " in err.splitlines()[-1]
    assert (run_dir / name / "kept").exists()


def test_a_journal_line_no_run_writes_is_not_held_in_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import tracemalloc

    run_id = _run(tmp_path)
    run_dir = tmp_path / "runs" / run_id
    (run_dir / "status.json").unlink()  # the journal's end line says how it ended
    journal = run_dir / "journal.jsonl"
    end = journal.read_bytes().splitlines(keepends=True)[-1]
    with open(journal, "ab") as f:  # 200 MB without a newline, then the end line again
        for _ in range(200):
            f.write(b"a" * (1 << 20))
        f.write(b"\n" + end)
    capsys.readouterr()
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING):
            assert main(["runs", "list", "--store", str(tmp_path)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == [run_id, "doubled", "succeeded"]
    assert peak < 160 * (1 << 20), peak  # at most two buffers of a line a run could write
    assert f"ignoring a line of {journal} longer than" in caplog.text


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_run_whose_ir_is_not_a_file_is_listed_and_what_needs_it_says_so(tmp_path: Path, kind: str) -> None:
    run_id = _run(tmp_path, x=4)
    ir_json = tmp_path / "runs" / run_id / "ir.json"
    ir_json.unlink()
    os.mkfifo(ir_json) if kind == "fifo" else ir_json.mkdir()
    r = _cli("runs", "list", "--store", str(tmp_path))
    assert r.returncode == 0 and r.stdout.splitlines()[1].split()[:3] == [run_id, "doubled", "succeeded"], r.stderr
    r = _cli("runs", "show", run_id, "--store", str(tmp_path))
    assert r.returncode == 0 and "status    succeeded" in r.stdout, r.stderr
    (tmp_path / "runs" / run_id / "status.json").write_text('{"status": "failed", "duration": 1, "outputs": {}}')
    for args in (["runs", "outputs", run_id], ["runs", "retry", run_id], ["graph", "--run", run_id]):
        r = _cli(*args, "--store", str(tmp_path))
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and f"{ir_json} is not a regular file" in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("attempt", ["1e400", "Infinity", '"2"', "-5", "true"])
def test_a_forged_lineage_record_of_the_run_does_not_break_show(
    tmp_path: Path, attempt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path)
    record = {"kind": "task", "run_id": run_id, "node_id": "number", "status": "failed", "started_at": "x"}
    with open(tmp_path / "lineage" / "log.jsonl", "a") as f:  # runs show reads the log as it is, unverified
        f.write(json.dumps(record)[:-1] + f', "attempt": {attempt}}}\n')
    capsys.readouterr()
    assert main(["runs", "show", run_id, "--store", str(tmp_path)]) == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("number"))
    assert row[:3] == ["number", "failed", "1"]
    assert main(["graph", "--run", run_id, "--store", str(tmp_path)]) == 0


def test_kept_output_is_never_read_or_written_through_a_linked_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, flag, outside = tmp_path / "s", tmp_path / "flag", tmp_path / "outside"
    flag.touch()
    args = ["run", "tests.runs.runs_flows:flaky", "--input", "x=5", "--input", f"flag={flag}", "--store", str(store)]
    assert main(args) == 1
    (run_dir,) = (store / "runs").iterdir()
    (outside / "gate").mkdir(parents=True)
    (outside / "gate" / "1.log").write_text("private content\n")
    logs = run_dir / "logs"
    for folder in logs.iterdir():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    (logs / "gate").symlink_to(outside / "gate")  # a node's folder that leads out of the run
    capsys.readouterr()
    assert main(["runs", "logs", run_dir.name, "--store", str(store)]) == 0
    assert main(["runs", "logs", run_dir.name, "--node", "gate", "--store", str(store)]) == 0
    assert "private content" not in capsys.readouterr().out
    (logs / "gate").unlink()
    logs.rmdir()
    logs.symlink_to(outside)  # the whole folder
    assert main(["runs", "logs", run_dir.name, "--store", str(store)]) == 0
    assert "private content" not in capsys.readouterr().out
    flag.unlink()
    assert main(["runs", "retry", run_dir.name, "--store", str(store)]) == 0  # its tasks print again
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == ["gate", "gate/1.log"]
    assert (outside / "gate" / "1.log").read_text() == "private content\n"


def test_what_runs_show_prints_from_edited_files_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _run(tmp_path)
    run_dir = tmp_path / "runs" / run_id
    journal = run_dir / "journal.jsonl"
    lines = journal.read_bytes().split(b"\0", 1)[0].splitlines(keepends=True)
    forged = json.dumps({"key": "\x1b]0;title\x07x", "outputs": {}, "status": "\x1b[2J\x1b[31mpwned"}).encode()
    journal.write_bytes(b"".join(lines[:-1]) + forged + b"\n" + lines[-1])
    failure = {
        "node": "number\x1b[1A",
        "error_type": "ValueError",
        "message": "\x1b[2Jbad\nline",
        "traceback": "\x1b[31mtb",
    }
    (run_dir / "failures.json").write_text(json.dumps([failure]))
    (run_dir / "status.json").write_text('{"status": "failed", "duration": 1, "outputs": {}}')
    capsys.readouterr()
    assert main(["runs", "show", run_id, "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J\\x1b[31mpwned" in out and "failed at node number\\x1b[1A: ValueError: \\x1b[2Jbad\nline" in out
    assert main(["runs", "outputs", run_id, "--store", str(tmp_path)]) == 1
    assert "\x1b" not in capsys.readouterr().err
