"""A secret reaches the task that reveals it and nothing else: no file a run leaves, no record, no
export, no error text, no cache key it could be guessed from."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import import_source
from tests.security import flows
from typedflow import Secret, WorkflowDefinitionError, task, workflow
from typedflow.errors import TaskDefinitionError
from typedflow.runtime.running import RunOptions, run_workflow

TOKEN = "tok-9f8e7d6c5b4a"
PASSWORD = "hunter2-pw"


def _everything_written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_a_secret_by_reference_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_TEST_TOKEN", TOKEN)
    ok = run_workflow(
        flows.logs_in,
        {"user": "ann", "token": Secret.from_env("TF_TEST_TOKEN"), "passwd": PASSWORD},
        RunOptions(store=tmp_path),
    )
    assert ok.value == f"ann:{len(TOKEN)}"
    bad = run_workflow(
        flows.logs_in,
        {"user": "bad", "token": Secret.from_env("TF_TEST_TOKEN"), "passwd": PASSWORD},
        RunOptions(store=tmp_path),
    )
    (failure,) = bad.failures
    assert TOKEN not in failure.message and TOKEN not in failure.traceback
    assert PASSWORD not in failure.message and PASSWORD not in failure.traceback
    assert "token *** and password ***" in failure.message
    written = _everything_written(tmp_path)
    assert TOKEN.encode() not in written
    # the password was a plain str input: the run keeps it to resume (0600), but no record holds it
    log = (tmp_path / "lineage" / "log.jsonl").read_text()
    assert PASSWORD not in log and TOKEN not in log
    for line in log.splitlines():
        rec = json.loads(line)
        assert "passwd" not in rec["parameters"] and "token" not in rec["parameters"]
        for ref in rec["inputs"]:
            if ref["name"] in ("passwd", "token"):
                assert ref["digest"] == "redacted"
    for inputs_file in tmp_path.glob("runs/*/inputs.json"):
        assert inputs_file.stat().st_mode & 0o777 == 0o600
        assert inputs_file.parent.stat().st_mode & 0o777 == 0o700


def test_every_file_a_run_leaves_is_its_owners_only(tmp_path: Path) -> None:
    # the run's outputs (status.json), failures and kept task output included, whatever the umask
    before = os.umask(0o022)
    try:
        ok = run_workflow(flows.shouts, {"word": "hi"}, RunOptions(store=tmp_path))
        bad = run_workflow(flows.shouts, {"word": "fail"}, RunOptions(store=tmp_path))
    finally:
        os.umask(before)
    assert ok.status == "succeeded" and bad.status == "failed"
    for run_id in (ok.run_id, bad.run_id):
        run_dir = tmp_path / "runs" / run_id
        names = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")}
        assert {"status.json", "logs"} <= names and any(n.endswith("/1.log") for n in names), names
        for p in [run_dir, *run_dir.rglob("*")]:
            assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    assert (tmp_path / "runs" / bad.run_id / "failures.json").is_file()


def test_exports_carry_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_TEST_TOKEN", TOKEN)
    run_workflow(
        flows.logs_in,
        {"user": "ann", "token": Secret.from_env("TF_TEST_TOKEN"), "passwd": PASSWORD},
        RunOptions(store=tmp_path),
    )
    from typedflow.cli import main

    log = tmp_path / "lineage" / "log.jsonl"
    for fmt in ("openlineage", "prov-json", "bundle"):
        out = tmp_path / f"export.{fmt}"
        assert main(["lineage", "export", "--all", "--log", str(log), "--format", fmt, "-o", str(out)]) == 0
        data = out.read_bytes() if out.is_file() else _everything_written(out)
        if fmt == "bundle" and out.is_file():
            import zipfile

            with zipfile.ZipFile(out) as zf:
                data = b"".join(zf.read(n) for n in zf.namelist())
        assert TOKEN.encode() not in data and PASSWORD.encode() not in data


def test_cache_keys_of_sensitive_values_are_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plain sha256 of a short password could be found by guessing; the cache key is built from a
    # digest keyed with the store's private key, which no record or export carries.
    from typedflow.ir.canonical import digest
    from typedflow.runtime.execute import cache_key

    monkeypatch.setenv("TF_TEST_TOKEN", TOKEN)
    given = {"user": "ann", "token": Secret.from_env("TF_TEST_TOKEN"), "passwd": PASSWORD}
    first = run_workflow(flows.logs_in, given, RunOptions(store=tmp_path))
    again = run_workflow(flows.logs_in, given, RunOptions(store=tmp_path))
    assert again.cache_hits == 1  # keyed digests are stable for one store
    template = flows.logs_in.ir.task("login")
    inputs = {"user": "ann", "token": {"secret": "env:TF_TEST_TOKEN"}, "passwd": PASSWORD}
    plain = {name: digest(v) for name, v in inputs.items()}
    guessed = cache_key(template, inputs, plain)
    (node,) = first.nodes
    assert node.cache_key is not None and node.cache_key != guessed
    assert node.input_digests["passwd"].startswith("hmac-sha256:")
    assert guessed not in (tmp_path / "lineage" / "log.jsonl").read_text()
    key = tmp_path / "store" / "keys" / "digest.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32


def test_a_secret_given_by_value_stays_in_the_process(tmp_path: Path) -> None:
    result = run_workflow(
        flows.logs_in, {"user": "ann", "token": Secret(TOKEN), "passwd": "x"}, RunOptions(store=tmp_path)
    )
    assert result.value == f"ann:{len(TOKEN)}"
    assert TOKEN.encode() not in _everything_written(tmp_path)
    # worker processes get it over their pipe, never through a file
    result = run_workflow(
        flows.logs_in,
        {"user": "bob", "token": Secret(TOKEN), "passwd": "x"},
        RunOptions(store=tmp_path, isolation="process"),
    )
    assert result.value == f"bob:{len(TOKEN)}"
    assert TOKEN.encode() not in _everything_written(tmp_path)
    with pytest.raises(TypeError, match="never pickled"):
        import pickle

        pickle.dumps(Secret(TOKEN))
    assert TOKEN not in repr(Secret(TOKEN)) and TOKEN not in f"{Secret(TOKEN)}"


def test_a_secret_value_is_not_a_workflow_constant(tmp_path: Path) -> None:
    with pytest.raises(WorkflowDefinitionError, match="given by value cannot be written into a workflow"):
        import_source(
            tmp_path,
            """
            from typedflow import Secret, workflow
            from tests.security.flows import login

            @workflow
            def wf(user: str) -> str:
                return login(user=user, token=Secret("abc123"), passwd="x")
            """,
        )


def test_a_secret_is_never_an_output(tmp_path: Path) -> None:
    @task
    def leak(x: int) -> Secret:
        return Secret("s")

    assert any(p.code == "typedflow-secret" for p in leak.signature.problems)
    with pytest.raises(TaskDefinitionError):
        leak.template  # noqa: B018

    @task
    def nested(xs: list[Secret]) -> int:
        return 0

    assert any(p.code == "typedflow-secret" for p in nested.signature.problems)

    @workflow
    def fine(user: str, token: Secret) -> str:
        return flows.login(user=user, token=token, passwd="x")

    assert fine.ir.workflow.inputs[1].type.kind == "secret"


def test_the_command_line_takes_secrets_by_reference_only(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "typedflow", "run", "tests.security.flows:logs_in", "--store", str(tmp_path)]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "TF_TEST_TOKEN": TOKEN}
    bad = subprocess.run(
        [*base, "--input", "user=ann", "--input", f"token={TOKEN}", "--input", "passwd=x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "by reference" in bad.stderr and TOKEN not in bad.stderr
    good = subprocess.run(
        [*base, "--input", "user=ann", "--input", "token=env:TF_TEST_TOKEN", "--input", "passwd=x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == f"ann:{len(TOKEN)}"
    assert TOKEN.encode() not in _everything_written(tmp_path)
