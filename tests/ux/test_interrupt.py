"""Ctrl-C and SIGTERM during `typedflow run`, through a real terminal: a clean stop, a resumable
journal, the command that resumes it; then the resumed run's outputs."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ux.terminal import ROOT, Terminal, plain

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminals and /proc as on Linux")


def _env(tmp_path: Path) -> dict[str, str]:
    return {"TF_UX_MARKS": str(tmp_path / "marks")}


def _marks(tmp_path: Path, name: str) -> int:
    return len(list((tmp_path / "marks").glob(f"{name}-*")))


def _journal(store: Path, run_id: str) -> list[dict[str, object]]:
    data = (store / "runs" / run_id / "journal.jsonl").read_bytes().split(b"\0", 1)[0]
    return [json.loads(line) for line in data.splitlines()]


def _resume(command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the resume command exactly as printed (``typedflow`` is this Python's module)."""
    argv = shlex.split(command)
    assert argv[0] == "typedflow"
    return subprocess.run(
        [sys.executable, "-m", "typedflow", *argv[1:]],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **_env(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _resume_line(text: str) -> str:
    lines = plain(text).splitlines()
    return lines[lines.index("resume it with:") + 1].strip()


def test_ctrl_c_finishes_what_it_can_abandons_the_rest_and_says_how_to_resume(tmp_path: Path) -> None:
    store = tmp_path / "store"
    term = Terminal(
        [
            "run",
            "tests.ux.flows:naps",
            "--input",
            "short=0.05",
            "--input",
            "medium=2.0",
            "--input",
            "long=60",
            "--store",
            str(store),
            "--stop-grace",
            "4",
        ],
        _env(tmp_path),
    )
    try:
        term.wait_for("done 1")  # the short nap has finished; the other two run
        assert "running 2" in term.text and "nap-2" in term.text and "nap-3" in term.text
        term.type(b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT to the command's process group
        code, out, took = term.finish()
    finally:
        term.kill()
    screen = plain(term.text)
    run_id = screen.split()[1]
    assert code == 130, screen
    assert out == ""  # no outputs: the run did not end
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen
    assert "stopping  SIGINT: no new task starts; waiting up to 4s for 2 running task(s)" in screen
    # the medium nap finished within the grace period and was kept; the long one was abandoned
    assert f"run {run_id}: STOPPED by SIGINT" in screen
    assert "(2 task(s) finished and kept; abandoned (they run again when resumed): nap-3)" in screen
    assert 2.5 < took < 10, took  # it waited for the grace period, not for the long nap
    command = _resume_line(term.text)
    assert command == f"typedflow run tests.ux.flows:naps --resume {run_id} --store {store}"
    # the journal keeps what finished and does not say the run ended: it is resumable
    assert [e["key"] for e in _journal(store, run_id)] == ["nap", "nap-2"]
    assert not (store / "runs" / run_id / "status.json").exists()
    assert [_marks(tmp_path, f"nap{x}") for x in (1, 2, 3)] == [1, 1, 1]

    resumed = _resume(command, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == 6
    assert f"run {run_id} resumed (naps)" in resumed.stderr
    # only the abandoned task ran again
    assert [_marks(tmp_path, f"nap{x}") for x in (1, 2, 3)] == [1, 1, 2]
    assert json.loads((store / "runs" / run_id / "status.json").read_text())["status"] == "succeeded"


NAPS = ["run", "tests.ux.flows:naps", "--input", "short=0.05", "--input", "medium=60", "--input", "long=60"]


def test_a_second_ctrl_c_stops_waiting(tmp_path: Path) -> None:
    store = tmp_path / "store"
    term = Terminal(
        [*NAPS, "--store", str(store), "--stop-grace", "60"],
        _env(tmp_path),
    )
    try:
        term.wait_for("done 1")
        term.type(b"\x03")
        term.wait_for("Ctrl-C again to stop waiting")
        term.type(b"\x03")
        code, _, took = term.finish()
    finally:
        term.kill()
    screen = plain(term.text)
    assert code == 130 and took < 5, (took, screen)
    assert "abandoned (they run again when resumed): nap-2, nap-3" in screen
    assert "Traceback" not in screen


def test_a_task_on_the_schedulers_own_thread_is_interrupted_after_the_grace_period(tmp_path: Path) -> None:
    # One task alone runs on the scheduler's thread: the grace period ends by interrupting it there.
    store = tmp_path / "store"
    term = Terminal(
        ["run", "tests.ux.flows:one_nap", "--input", "seconds=60", "--store", str(store), "--stop-grace", "1"],
        _env(tmp_path),
    )
    try:
        term.wait_for("running 1")
        deadline = time.monotonic() + 30
        while _marks(tmp_path, "nap4") < 1:  # the task itself has started (not only been scheduled)
            assert time.monotonic() < deadline, term.text
            time.sleep(0.02)
        term.type(b"\x03")
        code, _, took = term.finish()
    finally:
        term.kill()
    screen = plain(term.text)
    assert code == 130 and took < 6, (took, screen)
    assert (
        "waiting up to 1s for 1 running task(s)" in screen and "abandoned (they run again when resumed): nap" in screen
    )
    run_id = screen.split()[1]
    assert _journal(store, run_id) == []
    resumed = _resume(_resume_line(term.text), tmp_path)
    assert resumed.returncode == 0 and json.loads(resumed.stdout) == 4, resumed.stderr


def _workers(store: Path) -> list[int]:
    """Process ids of the worker processes serving the store at ``store``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"typedflow.backends.local.procworker" in argv and str(store / "store").encode() in argv:
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_sigterm_kills_worker_processes_at_once_and_exits_143(tmp_path: Path) -> None:
    store = tmp_path / "store"
    term = Terminal(
        [*NAPS, "--store", str(store), "--isolation", "process", "--log-format", "json", "--stop-grace", "30"],
        _env(tmp_path),
    )
    try:
        term.wait_for('"key": "nap", "task": "nap", "status": "succeeded"')
        deadline = time.monotonic() + 30
        while _marks(tmp_path, "nap3") < 1 or _marks(tmp_path, "nap2") < 1:
            assert time.monotonic() < deadline, term.text
            time.sleep(0.05)
        workers = _workers(store)
        assert len(workers) >= 2
        term.proc.send_signal(signal.SIGTERM)
        code, out, took = term.finish()
    finally:
        term.kill()
    events = [json.loads(line) for line in plain(term.text).splitlines() if line.startswith("{")]
    assert code == 143 and out == "", term.text
    assert took < 5, took  # nothing to wait for: worker processes are killed, not waited for
    stopping = next(e for e in events if e["event"] == "stopping")
    assert stopping["signal"] == "SIGTERM" and stopping["killed"] == 2 and stopping["waiting"] == 0
    end = events[-1]
    run_id = events[0]["run_id"]
    assert end["event"] == "interrupted" and end["signal"] == "SIGTERM" and end["run_id"] == run_id
    assert end["abandoned"] == ["nap-2", "nap-3"]
    assert end["resume"] == (
        f"typedflow run tests.ux.flows:naps --resume {run_id} --store {store} --isolation process --log-format json"
    )
    time.sleep(0.2)
    assert all(_gone(pid) for pid in workers), workers
    assert not any(e["event"] == "node" and e["status"] == "failed" for e in events)  # killed, not failed
    resumed = _resume(end["resume"], tmp_path)
    assert resumed.returncode == 0 and json.loads(resumed.stdout) == 6, resumed.stderr
    assert [_marks(tmp_path, f"nap{x}") for x in (1, 2, 3)] == [1, 2, 2]


def test_resuming_with_inputs_is_refused_the_inputs_of_a_run_are_fixed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **_env(tmp_path)}
    base = [sys.executable, "-m", "typedflow", "run", "tests.ux.flows:one_nap", "--store", str(store)]
    first = subprocess.run([*base, "--input", "seconds=0"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    run_id = first.stderr.split()[1]
    inputs = tmp_path / "in.json"
    inputs.write_text('{"seconds": 99}')
    for extra in (["--input", "seconds=99"], ["--input", "seconds=0"], ["--inputs-file", str(inputs)]):
        r = subprocess.run(
            [*base, "--resume", run_id, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert r.stderr == (
            f"typedflow: bad input: run {run_id} is resumed with the inputs it started with, which are fixed; "
            "leave out --input and --inputs-file (or start a new run without --resume)\n"
        )
    assert _marks(tmp_path, "nap4") == 1  # nothing ran
    for bad in ("-1", "soon", "inf"):
        r = subprocess.run(
            [*base, "--input", "seconds=0", "--stop-grace", bad], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert r.returncode == 2 and f"--stop-grace: expected a number of seconds (0 or more), got '{bad}'" in r.stderr


@pytest.mark.parametrize(
    ("sig", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_before_the_run_starts_ends_the_command_without_a_traceback(
    tmp_path: Path, sig: int, code: int, said: str
) -> None:
    slow = tmp_path / "slow_import.py"
    slow.write_text("import time\nprint('importing', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "typedflow", "run", f"{slow}:w", "--store", str(tmp_path / "s")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "importing\n"  # what the module prints goes to stderr
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code and out == ""
    assert err == f"typedflow: {said}\n"
