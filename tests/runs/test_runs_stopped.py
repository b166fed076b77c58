"""`typedflow runs show` and `runs list` of a local run that stopped before its end: stopped by a signal
(when, by which signal, the nodes it abandoned) or killed outright (the last activity it recorded)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from typedflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests.runs.stop_flows:stops"


def _runs(store: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["runs", *args, "--store", str(store)]) == 0
    return capsys.readouterr().out


def _rows(text: str) -> list[list[str]]:
    """The node table's rows, split on blanks."""
    return [line.split() for line in text.split("\nNODE ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]]


def _field(text: str, name: str) -> str:
    return next(line[10:] for line in text.splitlines() if line.startswith(f"{name} ".ljust(10)))


def test_a_run_stopped_by_a_signal_shows_when_it_stopped_and_what_it_abandoned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, hold = tmp_path / "s", tmp_path / "hold"
    hold.touch()
    argv = ["run", SPEC, "--input", "x=1", "--input", f"hold={hold}", "--store", str(store)]
    try:
        # in a process of its own: one whose run abandoned a task ends at once (os._exit)
        proc = subprocess.run(
            [sys.executable, "-m", "typedflow", *argv, "--stop-grace", "0.3", "--log-format", "plain"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        err = proc.stderr
        assert proc.returncode == 128 + 15, err
        run_id = err.split()[1]
        assert "abandoned (they run again when resumed): held" in err, err
        run_dir = store / "runs" / run_id
        # stopped, not ended: no status, no end line in the journal, so the run stays resumable
        assert not (run_dir / "status.json").exists()
        journal = (run_dir / "journal.jsonl").read_bytes().split(b"\0", 1)[0]
        assert [json.loads(line)["key"] for line in journal.splitlines()] == ["stopper"]

        shown = _runs(store, capsys, "show", run_id)
        assert _field(shown, "status") == "interrupted"
        started, ended = _field(shown, "started"), _field(shown, "ended")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ended) and ended >= started, shown
        assert _field(shown, "duration") != "-"
        nodes = {row[0]: row[1] for row in _rows(shown)}
        assert nodes == {"stopper": "succeeded", "held": "cancelled"}, shown
        assert f"note: stopped by SIGTERM at {ended}; abandoned (they run again when resumed): held\n" in shown
        listed = _runs(store, capsys, "list").splitlines()[1].split()
        assert listed[2] == "interrupted" and listed[4] == _field(shown, "duration"), listed
        # the same as JSON
        detail = json.loads(_runs(store, capsys, "show", run_id, "--json"))
        assert detail["status"] == "interrupted" and detail["ended"] == ended and detail["last_recorded"] == ""
        assert detail["abandoned"] == ["held"] and 0 < detail["duration"] < 60
        assert {n["key"]: n["status"] for n in detail["nodes"]} == {"stopper": "succeeded", "held": "cancelled"}
        assert detail["notes"][0].startswith("stopped by SIGTERM at ")
        [summary] = json.loads(_runs(store, capsys, "list", "--json"))
        assert summary == {k: detail[k] for k in summary} and summary["run_id"] == run_id
    finally:
        hold.unlink(missing_ok=True)

    # resumed, the stop is no longer the run's: it ends as any run does
    assert main([*argv[:2], "--resume", run_id, "--store", str(store)]) == 0
    assert capsys.readouterr().out == "3\n"
    shown = _runs(store, capsys, "show", run_id)
    assert _field(shown, "status") == "succeeded" and "cancelled" not in shown and "note:" not in shown, shown
    assert not (run_dir / "stopped.json").exists()


def _killed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str, Path]:
    """A run that finished, cut back to what a SIGKILL before its end leaves: no status.json, no end line,
    nothing said about the stop. Its store, id and folder."""
    store, hold = tmp_path / "s", tmp_path / "hold"
    assert main(["run", SPEC, "--input", "x=1", "--input", f"hold={hold}", "--store", str(store)]) == 0
    run_id = _runs(store, capsys, "list").splitlines()[1].split()[0]
    run_dir = store / "runs" / run_id
    (run_dir / "status.json").unlink()
    journal = run_dir / "journal.jsonl"
    journal.write_bytes(b"".join(journal.read_bytes().splitlines(keepends=True)[:-1]))
    return store, run_id, run_dir


def test_a_killed_run_shows_the_last_activity_it_recorded_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, run_id, _ = _killed_run(tmp_path, capsys)
    shown = _runs(store, capsys, "show", run_id)
    assert _field(shown, "status") == "interrupted"
    found = re.fullmatch(r"- \(not recorded; last activity recorded at (\S+)\)", _field(shown, "ended"))
    assert found is not None, shown
    assert found[1] >= max(row[3] for row in _rows(shown)), shown  # at least the last node's start
    detail = json.loads(_runs(store, capsys, "show", run_id, "--json"))
    assert detail["ended"] == "" and detail["duration"] is None and detail["last_recorded"] == found[1]
    assert detail["abandoned"] == []
    [summary] = json.loads(_runs(store, capsys, "list", "--json"))  # from the run's files alone
    assert summary["ended"] == "" and "" < summary["last_recorded"] <= found[1]
    assert _field(shown, "duration") == "-"  # not known: the label says when it was last seen, not when it ended


@pytest.mark.parametrize(
    "damage",
    [
        '{"abandoned": ["held"], "ended": "2026-01-01T00:00:00Z", "signal": "\\u001b[2Jpwned"}',
        '{"abandoned": "held", "ended": "2026-01-01T00:00:00Z", "signal": "SIGINT"}',
        "not json",
        "fifo",
    ],
)
def test_a_damaged_stop_file_is_ignored_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    store, run_id, run_dir = _killed_run(tmp_path, capsys)
    if damage == "fifo":
        os.mkfifo(run_dir / "stopped.json")  # never waited on
    else:
        (run_dir / "stopped.json").write_text(damage)
    shown = _runs(store, capsys, "show", run_id)
    assert _field(shown, "ended").startswith("- (not recorded; last activity recorded at "), shown
    assert "\x1b" not in shown and "note: stopped" not in shown
    assert any("stopped.json" in r.getMessage() for r in caplog.records)


def test_a_killed_runs_last_activity_is_never_text_a_damaged_record_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, run_id, _ = _killed_run(tmp_path, capsys)
    forged = {"kind": "task", "run_id": run_id, "node_id": "add", "attempt": 2, "status": "succeeded"}
    with open(store / "lineage" / "log.jsonl", "a") as f:  # runs show reads the log unverified
        f.write(json.dumps({**forged, "started_at": "zzz", "ended_at": "zzz"}) + "\n")
    detail = json.loads(_runs(store, capsys, "show", run_id, "--json"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detail["last_recorded"]), detail
