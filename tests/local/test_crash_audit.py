"""Local runs killed (SIGKILL), stopped (SIGINT, SIGTERM, ``runs cancel``) and run side by side on one
store: what finished is kept, a resumed run ends as a clean one, the lineage log verifies and its
records agree with the journals. The invariants live in :mod:`tests.local.crashkit`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.local import crashkit
from tests.local.crashkit import ROOT, Proc, check_store, run_args

# A run whose end line reaches its journal and which is killed right then (SIGKILL from inside, at that
# instant); the scheduler's thread, which hands the run's last records to the lineage log, is slowed
# down as a loaded machine may (a sleep), so the order of the two is what the code makes it.
_KILLED_AS_IT_ENDS = """
import os, signal, sys, time
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.local import journal, recorder
from typedflow.runtime.running import RunOptions, run_workflow
from tests.local import crash_flows

append = journal.Journal._append
def _append(self, line):
    append(self, line)
    if line.startswith(b'{"duration"'):  # the run's end line
        os.kill(os.getpid(), signal.SIGKILL)
journal.Journal._append = _append

finished = recorder.LocalRecorder.run_finished
def run_finished(self, status, outputs):
    time.sleep(0.3)
    finished(self, status, outputs)
recorder.LocalRecorder.run_finished = run_finished

run_workflow(crash_flows.quick, {"n": 150, "salt": 0}, RunOptions(store=Path(sys.argv[1])))
"""


def test_a_run_killed_as_its_journal_ends_keeps_the_records_of_every_task(tmp_path: Path) -> None:
    store = tmp_path / "s"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_AS_IT_ENDS), str(store)],
        cwd=ROOT,
        env=crashkit.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (run_dir,) = (store / "runs").iterdir()
    assert crashkit.journal_lines(run_dir)[-1]["status"] == "succeeded"  # the run has ended for the journal
    # Its lineage: every task it ran has a record, and the run's end too (a resume of a run that
    # ended records nothing, so what is missing now would be missing for good).
    check_store(store)
    resumed = Proc(
        tmp_path, "resume", "run", f"{crashkit.FLOWS}:quick", "--store", str(store), "--resume", run_dir.name
    )
    assert resumed.finish() == 0, resumed.stderr()
    assert json.loads(resumed.stdout()) == [(i * 7) ** 2 for i in range(150)]
    check_store(store)


def _journaled(store: Path, run_id: str, part: str) -> int:
    return sum(1 for e in crashkit.journal_lines(store / "runs" / run_id) if part in e["key"])


def test_a_failed_run_being_retried_is_running_and_killed_is_interrupted_then_succeeds(tmp_path: Path) -> None:
    from typedflow.backends.local.runs import LocalRuns

    store, flag = tmp_path / "s", tmp_path / "flag"
    flag.touch()
    inputs = {"n": 4, "seconds": 0.6, "flag": str(flag)}
    first = Proc(tmp_path, "first", *run_args("gated_lulls", inputs, store))
    assert first.finish() == 1
    run_id = first.run_id()
    assert run_id is not None
    runs = LocalRuns(store)
    assert runs.show(run_id).summary.status == "failed"
    flag.unlink()
    retry = Proc(tmp_path, "retry", "runs", "retry", run_id, "--store", str(store))
    deadline = time.monotonic() + 30
    while _journaled(store, run_id, "/gate") < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    # The gates have passed; the lulls run (0.6 s each).
    detail = runs.show(run_id)
    assert detail.summary.status == "running"
    assert [s.run_id for s in runs.list(None, "running", 10)] == [run_id]
    assert retry.kill() == -signal.SIGKILL
    detail = runs.show(run_id)
    assert detail.summary.status == "interrupted"
    assert detail.failure is None  # the first run's failure is not this one's
    again = Proc(tmp_path, "again", "runs", "retry", run_id, "--store", str(store))
    assert again.finish() == 0, again.stderr()
    assert json.loads(again.stdout()) == [i * 7 for i in range(4)]
    detail = runs.show(run_id)
    assert detail.summary.status == "succeeded" and detail.failure is None
    check_store(store)


def test_processes_side_by_side_on_one_store_some_killed_and_resumed(tmp_path: Path) -> None:
    """Six runs at once on one store (the same workflow twice, others), some SIGKILLed mid-run and
    resumed while the rest still run: every run ends as a clean one, and the shared cache index and
    lineage log hold together."""
    counts = crashkit.side_by_side(tmp_path, seed=3)
    assert counts["runs"] == 6


def _soak(tmp_path: Path, shape: str, seed: int, signals: tuple[int, ...], kills: int = 3) -> dict[str, int]:
    target, inputs = crashkit.SHAPES[shape]
    clean, span = crashkit.clean_outputs(tmp_path, target, inputs)
    return crashkit.soak(tmp_path, seed, target, inputs, clean, span=span, kills=kills, signals=signals, reach=0.8)


def test_sigkill_at_random_moments_then_resume_ends_as_a_clean_run(tmp_path: Path) -> None:
    """Quick items, slow items, file outputs, retried and tolerated failures; checked after each kill."""
    counts = _soak(tmp_path, "crunch", 11, (signal.SIGKILL,))
    assert counts.get("SIGKILL", 0) >= 1, counts


def test_a_failing_run_killed_and_resumed_fails_as_a_clean_run(tmp_path: Path) -> None:
    counts = _soak(tmp_path, "doomed", 4, (signal.SIGKILL,), kills=2)
    assert counts.get("SIGKILL", 0) >= 1, counts


def test_sigint_and_sigterm_mid_map_stop_cleanly_and_resume(tmp_path: Path) -> None:
    # A signal can land after the run has ended (on a busy machine a run can end before the random
    # moment picked from a clean run's time): another seed then, until one stops a run midway.
    seen = []
    for seed in (5, 6, 7):
        counts = _soak(tmp_path, "quick", seed, (signal.SIGINT, signal.SIGTERM), kills=2)
        seen.append(counts)
        if counts.get("SIGINT", 0) + counts.get("SIGTERM", 0) >= 1:
            break
    assert counts.get("SIGINT", 0) + counts.get("SIGTERM", 0) >= 1, seen


def test_runs_retry_stopped_by_signals_exits_as_typedflow_run_does(tmp_path: Path) -> None:
    """130 after SIGINT, 143 after SIGTERM, with the command that resumes the run; a second signal stops
    waiting for tasks on worker threads, and the command exits at once (Python would wait for them)."""
    store = tmp_path / "s"
    first = Proc(tmp_path, "first", *run_args("lulls", {"n": 2, "seconds": 30.0}, store))
    assert first.wait_started()
    time.sleep(0.3)
    first.popen.send_signal(signal.SIGINT)
    time.sleep(0.2)
    t0 = time.monotonic()
    assert first.kill(signal.SIGINT) == 130, first.stderr()
    run_id = first.run_id()
    assert run_id is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        retry = Proc(tmp_path, f"retry-{sig}", "runs", "retry", run_id, "--store", str(store))
        assert retry.wait_started()
        time.sleep(0.3)
        retry.popen.send_signal(sig)
        time.sleep(0.2)
        t0 = time.monotonic()
        assert retry.kill(sig) == 128 + sig, retry.stderr()
        assert time.monotonic() - t0 < 5  # not the 30 s of the abandoned tasks
        assert f"resume it with:\n  typedflow runs retry {run_id}" in retry.stderr()
        assert crashkit.journal_lines(store / "runs" / run_id)[-1]["key"] != "$run"
    check_store(store)


def test_quick_tasks_of_maps_running_at_once_are_settled_a_map_window_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed in the middle of a batch of quick tasks runs that batch again when resumed: a batch
    is at most a map window (docs/concepts.md), also while several maps have their windows ready."""
    from typedflow.backends.local.interpreter import MAP_WINDOW, Interpreter

    from tests.local import crash_flows
    from typedflow.runtime.running import RunOptions, run_workflow

    sizes: list[int] = []
    settle = Interpreter.settle

    def counting(self: Interpreter, ended: Any) -> None:
        sizes.append(len(ended))
        settle(self, ended)

    monkeypatch.setattr(Interpreter, "settle", counting)
    result = run_workflow(crash_flows.crunch, {"n": 200, "salt": 1}, RunOptions(store=tmp_path))
    assert result.ok and result.value == crash_flows.Summary(**crashkit.crunch_expected(200, 1))
    assert MAP_WINDOW < max(sizes) * 2  # batches of about a window were settled
    assert max(sizes) <= MAP_WINDOW, sorted(sizes)[-5:]


def test_a_task_retried_on_its_own_exception_is_retried_in_a_worker_process(tmp_path: Path) -> None:
    """``Retry(on=(Flap,))``: the exception crosses the process as its name, and is retried all the same."""
    from tests.local import crash_flows
    from typedflow.runtime.running import RunOptions, run_workflow

    result = run_workflow(crash_flows.flaps, {"n": 4, "salt": 0}, RunOptions(store=tmp_path, isolation="process"))
    assert result.ok, [(n.key, n.message) for n in result.failures]
    assert result.value == [0, 21, 42, 63]
    assert {n.key: n.attempts for n in result.nodes if n.task == "flap"} == {
        "map[0]/flap": 2,
        "map[1]/flap": 1,
        "map[2]/flap": 1,
        "map[3]/flap": 2,
    }


# A run with a signing key killed while a group's checkpoint is being signed (a KMS call takes a
# network round trip: most of a group commit's time), at its second group.
_KILLED_WHILE_SIGNING = """
import os, signal, sys
from pathlib import Path
from typedflow.lineage import log
from typedflow.runtime.running import RunOptions, run_workflow
from tests.local import crash_flows

sign = log.checkpoint_line
calls = []
def checkpoint_line(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return sign(*args, **kwargs)
log.checkpoint_line = checkpoint_line

run_workflow(crash_flows.quick, {"n": 300, "salt": 0}, RunOptions(store=Path(sys.argv[1])))
"""


def test_a_signed_log_of_a_run_killed_while_signing_still_verifies_with_the_key(tmp_path: Path) -> None:
    from typedflow.lineage.signing import keygen
    from typedflow.lineage.verify import verify_log

    store, keys = tmp_path / "s", tmp_path / "keys"
    private, public, _ = keygen(keys)
    env = {**crashkit.env(), "TYPEDFLOW_LINEAGE_KEY": str(private)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_WHILE_SIGNING), str(store)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    log = store / "lineage" / "log.jsonl"
    result = verify_log(log, public_key=public.read_bytes())
    assert result.ok, result.summary()
    (run_dir,) = (store / "runs").iterdir()
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "run",
            f"{crashkit.FLOWS}:quick",
            "--store",
            str(store),
            "--resume",
            run_dir.name,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = verify_log(log, public_key=public.read_bytes())
    assert result.ok, result.summary()
    check_store(store)
