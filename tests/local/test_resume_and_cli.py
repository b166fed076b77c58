"""Crash/resume with a real SIGKILL, and the `typedflow run` command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local import flows

ROOT = Path(__file__).resolve().parents[2]


def tf(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "typedflow", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
        timeout=120,
    )


def _finished_lines(journal: Path) -> int:
    """Complete lines in a run journal (it is allocated ahead: NUL bytes follow them while it is written)."""
    data = journal.read_bytes().split(b"\0", 1)[0]
    return data.count(b"\n")


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    store, counters = tmp_path / "store", tmp_path / "counters"
    env = {**os.environ, "TF_TEST_COUNTER": str(counters), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "typedflow",
            "run",
            "tests.local.flows:long_chain",
            "--input",
            "tag=r",
            "--store",
            str(store),
            "--log-format",
            "plain",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    journal = None
    while time.time() < deadline:
        runs = list((store / "runs").glob("*/journal.jsonl")) if (store / "runs").exists() else []
        if runs and _finished_lines(runs[0]) >= 2:
            journal = runs[0]
            break
        time.sleep(0.02)
    assert journal is not None, "run did not progress"
    # Killed while the next task runs (each takes 0.4 s), not in the instant between a task's journal
    # line and its record reaching the OS, which the records may lose (docs/lineage.md).
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_id = journal.parent.name
    assert proc.stderr is not None
    # the run id is on stderr before anything has finished: a killed run can be resumed by it
    assert proc.stderr.read().splitlines()[0] == f"run {run_id} started (long_chain)"
    done_before = _finished_lines(journal)
    assert 2 <= done_before < 5
    executed_before = {x: len(list(counters.glob(f"r-{x}-*"))) for x in (1, 2, 4, 8, 16)}
    # the killed run's lineage: its run_start and the records of every task that finished, intact
    from typedflow.lineage.query import iter_records
    from typedflow.lineage.verify import verify_log

    log = store / "lineage" / "log.jsonl"
    assert verify_log(log).ok
    killed = [rec for rec, _ in iter_records(log) if rec.run_id == run_id]
    assert killed[0].kind == "run_start"
    assert [r.status for r in killed[1:]] == ["succeeded"] * done_before
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "run",
            "tests.local.flows:long_chain",
            "--store",
            str(store),
            "--resume",
            run_id,
            "--log-format",
            "plain",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == 32
    executed_after = {x: len(list(counters.glob(f"r-{x}-*"))) for x in (1, 2, 4, 8, 16)}
    # nodes that finished before the kill were not executed again; the one in flight ran again
    finished = [1, 2, 4, 8, 16][:done_before]
    assert all(executed_after[x] == executed_before[x] == 1 for x in finished), (executed_before, executed_after)
    assert all(1 <= v <= 2 for v in executed_after.values()), executed_after
    assert resumed.stderr.startswith(f"run {run_id} resumed (long_chain)\n") and "[resumed]" in resumed.stderr
    # the resumed run's end leaves the journal as its lines alone: one per node, no gap, no padding,
    # then the run's end (its durable status)
    *lines, last = journal.read_bytes().splitlines()
    assert len({json.loads(line)["key"] for line in lines}) == len(lines) == 5
    assert json.loads(last) == {
        "key": "$run",
        "status": "succeeded",
        "outputs": {"out": 32},
        "duration": json.loads(last)["duration"],
        "ended": json.loads(last)["ended"],
    }
    assert json.loads((journal.parent / "status.json").read_bytes())["status"] == "succeeded"
    # an uninterrupted run gives the same outputs
    fresh = tf("run", "tests.local.flows:long_chain", "--input", "tag=fresh", "--store", str(tmp_path / "s2"), env=env)
    assert json.loads(fresh.stdout) == 32


def test_cli_stdout_is_only_the_outputs(tmp_path: Path) -> None:
    r = tf("run", "tests.local.flows:fanout", "--input", "xs=[1, 2]", "--store", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"mean": 4.0, "total": 8}
    assert "SUCCEEDED" in r.stderr and "run " in r.stderr
    r = tf("run", "tests.local.flows:diamond", "--input", "x=2", "--store", str(tmp_path), "--log-format", "json")
    assert json.loads(r.stdout) == 9
    events = [json.loads(line) for line in r.stderr.splitlines()]
    assert events[-1]["event"] == "run" and events[-1]["status"] == "succeeded"
    assert events[0] == {"event": "start", "run_id": events[-1]["run_id"], "workflow": "diamond", "resumed": False}
    # what a task prints, writes to fd 1 or lets a child process write goes to stderr, in both isolations
    for isolation in ("thread", "process"):
        r = tf(
            "run",
            "tests.local.flows:noisy",
            "--input",
            "x=1",
            "--store",
            str(tmp_path),
            "--no-cache",
            "--isolation",
            isolation,
            "--log-format",
            "plain",
        )
        assert r.returncode == 0 and json.loads(r.stdout) == 2, (isolation, r.stdout, r.stderr)
        for text in ("printed by the task", "written to fd 1 by the task", "a child process on fd 1"):
            assert text in r.stderr, (isolation, text)


def test_cli_exit_codes_and_input_parsing(tmp_path: Path) -> None:
    r = tf("run", "tests.local.flows:failing", "--input", "x=1", "--input", "channel=#ops", "--store", str(tmp_path))
    assert r.returncode == 1 and r.stdout == ""
    assert "node boom (task boom) failed" in r.stderr and "ValueError: bad value 1" in r.stderr
    r = tf("run", "tests.local.flows:diamond", "--input", "x=abc", "--store", str(tmp_path / "bad"))
    assert r.returncode == 2 and 'input "x": expected int' in r.stderr
    assert not (tmp_path / "bad" / "runs").exists() or not any((tmp_path / "bad" / "runs").iterdir())
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"xs": [3]}))
    r = tf("run", "tests.local.flows:fanout", "--inputs-file", str(inputs), "--store", str(tmp_path))
    assert json.loads(r.stdout) == {"mean": 7.0, "total": 7}


def test_cli_unusable_store_or_worker_count_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = tf("run", "tests.local.flows:diamond", "--input", "x=1", "--store", str(blocker))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"typedflow: bad input: cannot write the run's state under {blocker}: Not a directory"
    ), r.stderr
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    r = tf(
        "run",
        "tests.local.flows:two_files",
        "--input",
        f"a={data}",
        "--input",
        f"b={data}",
        "--store",
        str(blocker / "sub"),
    )
    assert r.returncode == 2 and r.stderr.startswith(f"typedflow: bad input: cannot copy input {data} into the store")
    assert "Traceback" not in r.stderr
    for n in ("0", "-3", "two"):
        r = tf("run", "tests.local.flows:diamond", "--input", "x=1", "--max-workers", n, "--store", str(tmp_path))
        assert r.returncode == 2 and f"--max-workers: expected a positive integer, got '{n}'" in r.stderr
    from typedflow.errors import InputError
    from typedflow.runtime.running import RunOptions, run_workflow

    with pytest.raises(InputError, match="max_workers must be a positive integer, got 0"):
        run_workflow(flows.diamond, {"x": 1}, RunOptions(store=tmp_path / "api", max_workers=0))
    assert not (tmp_path / "api").exists()


def test_cli_file_input_and_ir_run(tmp_path: Path) -> None:
    src = tmp_path / "data.csv"
    src.write_text("a,b\n1,2\n3,4\n")
    mod = tmp_path / "wfmod.py"
    mod.write_text(
        "from typedflow import task, workflow, TypedFile\n"
        "from typedflow.formats import CSV\n"
        "@task\ndef rows(data: TypedFile[CSV]) -> int:\n    return len(data.read_text().splitlines())\n"
        "@workflow\ndef count(data: TypedFile[CSV]) -> int:\n    return rows(data=data)\n"
    )
    r = tf("run", f"{mod}:count", "--input", f"data={src}", "--store", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == 3
    out = tmp_path / "count.ir.json"
    r = tf("compile", f"{mod}:count", "--target", "ir", "-o", str(out))
    assert r.returncode == 0 and out.exists()
    r = tf(
        "run",
        "--ir",
        str(out),
        "--input",
        f"data={src}",
        "--store",
        str(tmp_path / "s2"),
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == 3
    # without the module on the path the failure says what to do
    r = tf("run", "--ir", str(out), "--input", f"data={src}", "--store", str(tmp_path / "s3"))
    assert r.returncode == 1
    assert "cannot import module 'wfmod', where the IR says task" in r.stderr and "PYTHONPATH" in r.stderr


def test_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "from typedflow import task, workflow\n@task\ndef f(x: int) -> int:\n    return x\n"
        "@workflow\ndef w(x: int) -> int:\n    return f(x=x)\n"
    )
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typedflow import task, workflow\n@task\ndef f(x: int) -> int:\n    return x\n"
        "@workflow\ndef w1(x: str) -> int:\n    return f(x=x)\n"
        "@workflow\ndef w2(x: int) -> int:\n    f()\n    return f(x=x)\n"
    )
    broken = tmp_path / "broken.py"
    broken.write_text("import nonexistent_module_xyz\n")
    r = tf("check", str(good), cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("Success: 1 workflow and 1 task checked")
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "one.py").write_text(good.read_text())
    (folder / "two.py").write_text(good.read_text().replace("def w(", "def w2("))
    r = tf("check", "flows", cwd=tmp_path)  # a folder stands for its .py files
    assert r.returncode == 0 and r.stdout.startswith("Success: 2 workflows and 2 tasks checked"), r.stdout + r.stderr
    # a package folder stands for its modules too (it checked only __init__.py: "0 workflows", a success),
    # imported by dotted name from outside the package, so their relative imports work
    pkg = tmp_path / "top" / "pkg"
    pkg.mkdir(parents=True)
    (tmp_path / "top" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text("from typedflow import task\n@task\ndef f(x: int) -> int:\n    return x\n")
    (pkg / "flow.py").write_text(
        "from typedflow import workflow\nfrom .tasks import f\n@workflow\ndef w(x: str) -> int:\n    return f(x=x)\n"
    )
    r = tf("check", str(pkg), cwd=ROOT)
    assert r.returncode == 1 and r.stdout.startswith(f'{pkg / "flow.py"}:5: error: Argument "x" to task "f"'), (
        r.stdout + r.stderr
    )
    (pkg / "flow.py").write_text((pkg / "flow.py").read_text().replace("x: str", "x: int"))
    r = tf("check", str(pkg), "--mypy", cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith("Success: 1 workflow and 1 task checked"), r.stdout + r.stderr
    r = tf("check", str(bad), cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith('bad.py:7: error: Argument "x" to task "f" has incompatible type "str"')
    assert lines[1].startswith('bad.py:10: error: Missing positional argument "x"')
    assert lines[1].endswith("[call-arg]")
    r = tf("check", str(broken), cwd=tmp_path)
    assert r.returncode == 1 and "broken.py:1: error: cannot import" in r.stdout
    assert "ModuleNotFoundError" in r.stdout and "Traceback" not in r.stdout + r.stderr
    # a workflow file named like a module that is already imported (here the standard library's csv)
    shadow = tmp_path / "csv.py"
    shadow.write_text(good.read_text())
    r = tf("check", str(shadow))  # (run from its own folder, Python itself would import it as csv)
    assert r.returncode == 1 and "the module name 'csv' is already taken by" in r.stdout, r.stdout + r.stderr
    assert "rename the file" in r.stdout
    # a module that is not there at all is named as given, not by where the loader noticed it
    r = tf("check", "no_such_module_xyz", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout.startswith("no_such_module_xyz: error: cannot import no_such_module_xyz: ")


def test_check_reports_a_broken_sub_workflow_once_where_it_is_used(tmp_path: Path) -> None:
    src = tmp_path / "layered.py"
    src.write_text(
        "from typedflow import map_over, task, workflow\n"
        "@task\ndef inc(x: int) -> int:\n    return x\n"
        "@task\ndef total(xs: list[int]) -> int:\n    return 0\n"
        "@workflow\ndef inner(x: int) -> int:\n    return inc(x=str(x))\n"
        "@workflow\ndef outer(xs: list[int]) -> int:\n"
        "    ys = map_over(lambda x: inner(x=x), xs)\n"
        "    return total(xs=ys)\n"
    )
    r = tf("check", str(src), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        'layered.py:10: error: str() of workflow input "x" (int) inside a workflow; format it inside a @task  '
        "[typedflow-format]",
        'layered.py:13: error: workflow "inner" cannot be used: its definition has errors (see above)  '
        "[typedflow-untyped]",
    ], r.stdout


def test_compile_help_lists_targets_and_unknown_target(tmp_path: Path) -> None:
    r = tf("compile", "--help")
    assert r.returncode == 0 and "ir (" in r.stdout
    r = tf("compile", "tests.local.flows:diamond", "--target", "nope")
    assert r.returncode == 2 and "unknown target 'nope'; installed targets: ir" in r.stderr


def test_compile_output_and_ir_files_that_cannot_be_used_are_refused_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    r = tf("compile", "tests.local.flows:diamond", "--target", "ir", "-o", str(out))  # a directory: a file in it
    assert r.returncode == 0 and r.stderr.strip().startswith(f"wrote {out / 'diamond.json'} ("), r.stderr
    assert list(tmp_path.iterdir()) == [out] and list(out.iterdir()) == [out / "diamond.json"]
    blocked = out / "diamond.json"
    r = tf("compile", "tests.local.flows:diamond", "--target", "ir", "-o", str(blocked / "x.json"))
    assert r.returncode == 2 and r.stderr.startswith(f"typedflow: cannot write {blocked / 'x.json'}"), r.stderr
    for cmd in (("run",), ("compile", "--target", "ir")):
        r = tf(*cmd, "--ir", str(tmp_path / "missing.ir.json"))
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"error: cannot read the IR document {tmp_path / 'missing.ir.json'}: No such file" in r.stderr


def test_workflow_call_outside_runs_locally(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("TYPEDFLOW_HOME", str(tmp_path))
    try:
        assert flows.diamond(x=3) == 12
        from typedflow import WorkflowFailedError

        with pytest.raises(WorkflowFailedError) as info:  # a failed run raises, it does not return None
            flows.failing(x=1, channel="#ops")
    finally:
        mp.undo()
    assert (tmp_path / "runs").exists()
    err = info.value
    assert str(err) == (
        f"workflow 'failing', run {err.run_id}: node boom (task boom) failed after 1 attempt(s): "
        "ValueError: bad value 1"
    )
    assert [f.key for f in err.failures] == ["boom"] and "raise ValueError" in err.failures[0].traceback


def test_a_closed_progress_pipe_does_not_stop_the_run(tmp_path: Path) -> None:
    # `typedflow run ... 2>&1 >out | head -1`: stderr's reader leaves after the first line
    out = tmp_path / "out.json"
    shell = (
        f"{sys.executable} -m typedflow run tests.local.flows:fanout --input 'xs=[1,2,3,4,5,6,7,8]' "
        f"--store {tmp_path / 's'} --log-format json 2>&1 >{out} | head -1; exit ${{PIPESTATUS[0]}}"
    )
    r = subprocess.run(
        ["bash", "-c", shell],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["event"] == "start"
    assert json.loads(out.read_text()) == {"mean": 10.0, "total": 80}
    runs = tf("lineage", "runs", "--log", str(tmp_path / "s" / "lineage" / "log.jsonl"), "--format", "json")
    assert [run["status"] for run in json.loads(runs.stdout)] == ["succeeded"]


def test_resume_of_a_run_of_another_workflow_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from typedflow.cli import main

    assert main(["run", "tests.local.flows:diamond", "--input", "x=1", "--store", str(tmp_path)]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    (run_dir / "status.json").unlink()  # interrupted before its end
    (run_dir / "journal.jsonl").write_text("")
    capsys.readouterr()
    rc = main(["run", "tests.local.flows:fanout", "--resume", run_dir.name, "--store", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err.strip().endswith(f"cannot resume run {run_dir.name}: it is a run of diamond, not of fanout")
    assert (run_dir / "journal.jsonl").read_text() == ""  # nothing ran


def test_an_empty_run_id_is_bad_input_never_a_new_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--resume "$RUN"`` with an empty variable, or ``graph --run ""``: said, not taken for no option."""
    from typedflow.cli import main

    for extra in ([], ["--input", "x=1"]):
        assert main(["run", "tests.local.flows:diamond", "--resume", "", *extra, "--store", str(tmp_path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == "typedflow: bad input: --resume '': not a run id\n"
    assert not (tmp_path / "runs").exists()  # no run was started
    assert main(["graph", "tests.local.flows:diamond", "--run", "", "--store", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no run '': not a run id" in captured.err
