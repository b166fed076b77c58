"""``typedflow runs`` on the local interpreter, on real runs: list, show, outputs, logs, cancel, retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from typedflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests.runs.runs_flows:"


def run(store: Path, wf: str, *inputs: str) -> int:
    args = ["run", SPEC + wf, "--store", str(store), "--log-format", "plain"]
    for i in inputs:
        args += ["--input", i]
    return main(args)


def runs(store: Path, *args: str) -> int:
    return main(["runs", *args, "--store", str(store)])


def newest(store: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert runs(store, "list", "--limit", "1") == 0
    return capsys.readouterr().out.splitlines()[1].split()[0]


def test_list_show_outputs_logs_of_real_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, flag = tmp_path / "s", tmp_path / "flag"
    assert run(store, "pairs", "x=3") == 0
    ok_out = capsys.readouterr().out
    ok = newest(store, capsys)
    flag.touch()
    assert run(store, "flaky", "x=2", f"flag={flag}") == 1
    bad = newest(store, capsys)

    assert runs(store, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "WORKFLOW", "STATUS", "STARTED", "DURATION"]
    assert [line.split()[:3] for line in lines[1:]] == [[bad, "flaky", "failed"], [ok, "pairs", "succeeded"]]
    assert runs(store, "list", "--status", "succeeded") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [ok]
    assert runs(store, "list", SPEC + "flaky") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [bad]
    assert runs(store, "list", "--name", "nothing") == 0
    assert capsys.readouterr().out == ""

    # outputs: exactly what `typedflow run` printed
    assert runs(store, "outputs", ok) == 0
    assert capsys.readouterr().out == ok_out == json.dumps({"doubled": 6, "note": "x=3"}, indent=2) + "\n"

    # a failed run: the failing node, exception type, message and traceback
    assert runs(store, "show", bad) == 0
    shown = capsys.readouterr().out
    assert "status    failed" in shown
    assert f"run {bad} failed at node gate: RuntimeError: blocked by flag" in shown
    assert 'raise RuntimeError(f"blocked by {Path(flag).name}")' in shown  # the traceback's source line
    rows = {line.split()[0]: line.split() for line in shown.splitlines() if line.startswith(("shout", "gate"))}
    assert rows["shout"][1:3] == ["succeeded", "1"] and rows["gate"][1:3] == ["failed", "1"]
    assert runs(store, "outputs", bad) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "failed at node gate: RuntimeError: blocked by flag" in captured.err

    # logs: what each task wrote, stdout and stderr
    assert runs(store, "logs", bad) == 0
    logs = capsys.readouterr().out
    assert logs == "==> gate (attempt 1) <==\ngate 4\n==> shout (attempt 1) <==\nshout 2\nshout 2 on stderr\n"
    assert runs(store, "logs", bad, "--node", "gate") == 0
    assert capsys.readouterr().out == "==> gate (attempt 1) <==\ngate 4\n"


def test_nested_node_keys_and_retry_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, flag = tmp_path / "s", tmp_path / "flag"
    flag.touch()
    assert run(store, "flaky", "x=5", f"flag={flag}") == 1
    rid = newest(store, capsys)
    flag.unlink()
    assert runs(store, "retry", rid) == 0
    captured = capsys.readouterr()
    assert captured.out == "11\n" and "resumed" in captured.err
    assert runs(store, "show", rid) == 0
    shown = capsys.readouterr().out
    assert "status    succeeded" in shown
    gate_row = next(line.split() for line in shown.splitlines() if line.startswith("gate"))
    assert gate_row[1] == "succeeded"
    assert runs(store, "retry", rid) == 2  # nothing left to retry
    assert "succeeded: nothing to retry" in capsys.readouterr().err

    assert run(store, "nested", "xs=[1,5,1]") == 1
    rid = newest(store, capsys)
    assert runs(store, "show", rid) == 0
    assert "failed at node map[1]/explode: ValueError: cannot handle 10" in capsys.readouterr().out
    assert runs(store, "logs", rid, "--node", "map[2]/shout") == 0
    assert capsys.readouterr().out.startswith("==> map[2]/shout (attempt 1) <==\nshout 1\n")


def test_cancel_a_running_run_then_retry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, hold = tmp_path / "s", tmp_path / "hold"
    hold.touch()
    command = ["run", SPEC + "held", "--input", "x=1", "--input", f"hold={hold}", "--store", str(store)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "typedflow", *command, "--log-format", "plain"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        rid = ""
        while time.time() < deadline:
            capsys.readouterr()
            runs(store, "list", "--status", "running")
            out = capsys.readouterr().out.splitlines()
            if len(out) > 1:
                rid = out[1].split()[0]
                break
            time.sleep(0.1)
        assert rid, "the run never showed as running"
        assert runs(store, "cancel", rid) == 0
        assert "sent SIGTERM" in capsys.readouterr().err
        assert proc.wait(timeout=30) == 128 + 15
    finally:
        if proc.poll() is None:
            proc.kill()
    assert runs(store, "show", rid) == 0
    assert "status    cancelled" in capsys.readouterr().out
    assert runs(store, "cancel", rid) == 2
    assert "is not running (cancelled)" in capsys.readouterr().err
    hold.unlink()
    assert runs(store, "retry", rid) == 0
    assert capsys.readouterr().out == "2\n"


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    for args in (["show", "nope"], ["outputs", "../etc"], ["logs", "x y"], ["retry", "nope"], ["cancel", "nope"]):
        assert runs(store, *args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert main(["runs", "list", "--target", "nowhere"]) == 2
    assert "unknown target 'nowhere'" in capsys.readouterr().err


FILE_FLOW = """
import os
from typedflow import task, workflow


@task
def first(x: int) -> int:
    return x + 1


@task
def gate(x: int, flag: str) -> int:
    if not os.path.exists(flag):
        raise RuntimeError("not yet")
    return x * 10


@workflow
def wf(x: int, flag: str) -> int:
    return gate(first(x), flag)
"""


def test_retry_of_a_run_from_a_file_finds_its_tasks_in_another_process(tmp_path: Path) -> None:
    """``typedflow run flows.py:wf`` imports ``flows`` from the file's folder; ``runs retry`` runs in another
    process and working directory, and finds the module there again (the run keeps the folder)."""
    code, elsewhere, store, flag = tmp_path / "code", tmp_path / "elsewhere", tmp_path / "s", tmp_path / "flag"
    code.mkdir()
    elsewhere.mkdir()
    (code / "fileflows.py").write_text(FILE_FLOW)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "typedflow", *args, "--store", str(store)],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    failed = cli("run", str(code / "fileflows.py") + ":wf", "--input", "x=1", "--input", f"flag={flag}")
    assert failed.returncode == 1, failed.stderr
    listed = cli("runs", "list", "--limit", "1")
    run_id = listed.stdout.splitlines()[1].split()[0]
    meta = json.loads((store / "runs" / run_id / "meta.json").read_text())
    assert meta["import_roots"] == [str(code)]
    flag.write_text("go")
    retried = cli("runs", "retry", run_id)
    assert retried.returncode == 0, retried.stderr
    assert "ModuleNotFoundError" not in retried.stderr
    shown = cli("runs", "outputs", run_id)
    assert json.loads(shown.stdout) == 20, shown.stdout


def test_logs_of_a_node_named_in_bytes_that_are_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A shell passes arguments as bytes: Python hands those that are not UTF-8 over as lone surrogates."""
    store = tmp_path / "s"
    assert run(store, "pairs", "x=3") == 0
    rid = newest(store, capsys)
    r = run_cli("runs", "logs", rid, "--node", "\udcff\udcfe", "--store", str(store))  # the bytes ff fe
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert r.stderr == f"no output kept for node \\udcff\\udcfe of run {rid}\n"


def test_show_of_a_retried_run_says_when_it_ended_and_what_its_last_execution_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that failed and was retried later: it ended when the retry ended (not its first start plus the
    retry's own time), and each node is shown as it last ran, not from its first attempt to its last."""
    import datetime as dt

    from typedflow.backends.local.runs import LocalRuns

    store, flag = tmp_path / "s", tmp_path / "flag"
    flag.touch()
    assert run(store, "flaky", "x=5", f"flag={flag}") == 1
    rid = newest(store, capsys)
    time.sleep(1.0)
    flag.unlink()
    assert runs(store, "retry", rid) == 0
    detail = LocalRuns(store).show(rid)

    def t(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    nodes = {n.key: n for n in detail.nodes}
    assert nodes["shout"].status == "succeeded" and nodes["shout"].attempts == 1  # kept, not a cache hit
    assert detail.cache_hits == 0
    gate = nodes["gate"]
    assert (gate.status, gate.attempts, gate.error) == ("succeeded", 1, "")
    assert (t(gate.ended) - t(gate.started)).total_seconds() < 0.9  # the retry's attempt alone
    s = detail.summary
    assert t(s.ended) >= max(t(n.ended) for n in detail.nodes)
    assert t(s.ended) - t(s.started) >= dt.timedelta(seconds=1)
    assert s.duration == pytest.approx((t(s.ended) - t(s.started)).total_seconds(), abs=0.002)
    capsys.readouterr()
    assert runs(store, "list") == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[0] == rid and float(row[4].rstrip("s")) >= 1.0


def test_a_store_path_the_os_refuses_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rid = "20261207-211944-34d78509"
    for store in (tmp_path / ("a" * 300), tmp_path / ("a/" * 3000)):  # a name, or a path, too long
        for args in (["list"], ["show", rid], ["retry", rid], ["logs", rid]):
            assert runs(store, *args) == 2, args
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "cannot read the runs under" in err and "too long" in err, err
        assert main(["graph", "--run", rid, "--store", str(store)]) == 2
        assert "too long" in capsys.readouterr().err
        assert main(["run", SPEC + "pairs", "--resume", rid, "--store", str(store)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot resume run {rid}: " in err and "too long" in err, err


def test_a_cancelled_run_resumed_is_no_longer_cancelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The cancel marker belongs to the stop it records: once the run is resumed (by runs retry or by
    typedflow run --resume), a later stop of another kind is not shown as a cancel."""
    store, flag = tmp_path / "s", tmp_path / "flag"
    flag.touch()
    assert run(store, "flaky", "x=5", f"flag={flag}") == 1
    rid = newest(store, capsys)
    run_dir = store / "runs" / rid
    journal = run_dir / "journal.jsonl"

    def not_ended() -> None:
        (run_dir / "status.json").unlink()
        journal.write_bytes(b"".join(journal.read_bytes().splitlines(keepends=True)[:-1]))  # its end line

    not_ended()  # what runs cancel leaves: a run stopped before its end, and the marker
    (run_dir / "failures.json").unlink()
    (run_dir / "cancelled").write_text("")
    capsys.readouterr()
    assert runs(store, "list") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[2] == "cancelled"
    assert main(["run", SPEC + "flaky", "--resume", rid, "--store", str(store)]) == 1  # still blocked
    assert not (run_dir / "cancelled").exists()
    not_ended()  # then killed before its end: its status was never written
    capsys.readouterr()
    assert runs(store, "list") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[2] == "interrupted"


def test_a_run_folder_that_is_a_link_is_never_resumed_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resumed run writes its folder (journal, status, logs): a run id that names a link is refused, and what
    it points at is left as it was."""
    store, flag = tmp_path / "s", tmp_path / "flag"
    flag.touch()
    assert run(store, "flaky", "x=5", f"flag={flag}") == 1
    rid = newest(store, capsys)
    elsewhere = tmp_path / "elsewhere"
    (store / "runs" / rid).rename(elsewhere)
    os.symlink(elsewhere, store / "runs" / rid)
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir() if p.is_file()}
    flag.unlink()  # the retry would now succeed
    capsys.readouterr()
    for args in (
        ["runs", "retry", rid, "--store", str(store)],
        ["run", SPEC + "flaky", "--resume", rid, "--store", str(store)],
    ):
        assert main(args) == 2
        assert f"{store / 'runs' / rid} is a symbolic link, not a run's folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir() if p.is_file()} == before


def test_a_retry_whose_stored_input_is_gone_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run's file inputs are kept in its store; one deleted since is said before anything runs (exit 2), not
    found by the task that reads it (a task failure with a traceback, exit 1)."""
    store, flag, data = tmp_path / "s", tmp_path / "flag", tmp_path / "data.txt"
    flag.touch()
    data.write_text("a\nb\n")
    assert run(store, "counted", f"f={data}", f"flag={flag}") == 1
    rid = newest(store, capsys)
    stored = json.loads((store / "runs" / rid / "inputs.json").read_text())["f"]["uri"]
    os.chmod(stored, 0o644)
    os.unlink(stored)
    flag.unlink()
    capsys.readouterr()
    assert runs(store, "retry", rid) == 2
    err = capsys.readouterr().err
    assert f"input 'f': its stored file {stored} is gone from the store" in err and "Traceback" not in err, err
