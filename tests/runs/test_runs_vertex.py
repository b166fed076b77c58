"""``start`` and ``typedflow runs`` on Vertex: aiplatform's real REST transport against a loopback Vertex
endpoint (every request re-parsed strictly with aiplatform_v1 and kfp-pipeline-spec), which runs each
submitted PipelineJob under kfp.local with the job's pipeline root, so outputs, failures and logs are
decoded from what the task containers really wrote there."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlparse

import pytest

from typedflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests.runs.runs_flows:"
PARENT = "projects/p/locations/europe-west4"


class FakeVertex(BaseHTTPRequestHandler):
    jobs: dict[str, Any] = {}
    seen: list[tuple[str, str, bytes]] = []
    errors: list[str] = []

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        from google.cloud import aiplatform_v1

        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        FakeVertex.seen.append(("POST", self.path, raw))
        path = urlparse(self.path).path
        m = re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+/pipelineJobs/[^/:]+):cancel", path)
        if m:
            job = FakeVertex.jobs[m.group(1)]
            job.state = aiplatform_v1.PipelineState.PIPELINE_STATE_CANCELLING
            return self._reply(200, b"{}")
        assert re.fullmatch(rf"/v1/{PARENT}/pipelineJobs", path), path
        msg = aiplatform_v1.PipelineJob.from_json(raw, ignore_unknown_fields=False)
        self._run(msg, json.loads(raw))
        FakeVertex.jobs[msg.name] = msg
        self._reply(200, aiplatform_v1.PipelineJob.to_json(msg).encode())

    def _run(self, msg: Any, body: dict[str, Any]) -> None:
        """Run the job under kfp.local in its pipeline root; the job's id is the run kfp.local made."""
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2 as pb

        from tests.vertex.kfp_harness import run_spec

        spec = body["pipelineSpec"]
        json_format.ParseDict(spec, pb.PipelineSpec(), ignore_unknown_fields=False)
        root = Path(body["runtimeConfig"]["gcsOutputDirectory"])
        root.mkdir(parents=True, exist_ok=True)
        before = {p.name for p in root.iterdir()}
        path = root.parent / f"spec-{len(FakeVertex.seen)}.json"
        path.write_text(json.dumps(spec))
        # JSON numbers arrive as doubles; Vertex gives a NUMBER_INTEGER input its int, as here
        types = spec["root"].get("inputDefinitions", {}).get("parameters", {})
        params = {
            k: int(v) if types.get(k, {}).get("parameterType") == "NUMBER_INTEGER" else v
            for k, v in body["runtimeConfig"].get("parameterValues", {}).items()
        }
        ok = True
        try:
            with contextlib.redirect_stdout(sys.stderr):  # what kfp.local prints is not the command's output
                run_spec(path, params, root)
        except Exception as exc:
            ok = False  # kfp.local raises for a failed pipeline
            FakeVertex.errors.append(repr(exc))
        made = {p.name for p in root.iterdir()} - before - {"typedflow"}
        assert len(made) == 1, FakeVertex.errors
        (job_id,) = made
        msg.name = f"{PARENT}/pipelineJobs/{job_id}"
        msg.state = (
            aiplatform_v1.PipelineState.PIPELINE_STATE_SUCCEEDED
            if ok
            else aiplatform_v1.PipelineState.PIPELINE_STATE_FAILED
        )
        now = dt.datetime.now(dt.UTC)
        msg.create_time = msg.start_time = now - dt.timedelta(seconds=1)
        msg.end_time = now
        if not ok:
            msg.error = {"code": 9, "message": "The DAG failed because some tasks failed."}

    def do_GET(self) -> None:
        FakeVertex.seen.append(("GET", self.path, b""))
        url = urlparse(self.path)
        m = re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+/pipelineJobs/[^/:]+)", url.path)
        if m:
            from google.cloud import aiplatform_v1

            job = FakeVertex.jobs.get(m.group(1))
            if job is None:
                return self._reply(404, json.dumps({"error": {"code": 404, "status": "NOT_FOUND"}}).encode())
            return self._reply(200, aiplatform_v1.PipelineJob.to_json(job).encode())
        assert url.path == f"/v1/{PARENT}/pipelineJobs", url.path
        self._reply(200, self._list(parse_qs(url.query)))

    def _list(self, query: dict[str, list[str]]) -> bytes:
        from google.cloud import aiplatform_v1

        flt = query.get("filter", [""])[0]
        equal = dict(re.findall(r'labels\.([a-z0-9_-]+)="([^"]*)"', flt))
        present = re.findall(r"labels\.([a-z0-9_-]+):\*", flt)
        states = set(re.findall(r'state="([A-Z_]+)"', flt))
        found = []
        for job in FakeVertex.jobs.values():
            labels = dict(job.labels)
            if any(labels.get(k) != v for k, v in equal.items()) or any(k not in labels for k in present):
                continue
            if states and job.state.name not in states:
                continue
            found.append(job)
        found.sort(key=lambda j: j.create_time, reverse=True)
        jobs = [json.loads(aiplatform_v1.PipelineJob.to_json(j)) for j in found]
        return json.dumps({"pipelineJobs": jobs}).encode()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def vertex(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform.utils import gcs_utils

    # the task containers (kfp.local subprocesses) import the flows from this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    FakeVertex.jobs, FakeVertex.seen = {}, []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeVertex)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    aiplatform.init(api_transport="rest", api_endpoint=f"http://127.0.0.1:{srv.server_port}")
    logging.getLogger("google.cloud.aiplatform").setLevel(logging.WARNING)
    try:
        with mock.patch.object(gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist"):
            yield tmp_path / "root"
    finally:
        srv.shutdown()
        aiplatform.init(api_transport="grpc", api_endpoint=None)


WHERE = ["--target", "vertex", "--project", "p", "--region", "europe-west4"]


def deploy(wf: str, root: Path, *inputs: str) -> int:
    args = ["deploy", SPEC + wf, *WHERE, "--pipeline-root", str(root), "--no-bundle", "--image", "python:3.11"]
    for i in inputs:
        args += ["--input", i]
    return main(args)


def start(wf: str, *inputs: str) -> int:
    args = ["start", SPEC + wf, *WHERE, "--wait", "--timeout", "120"]  # no pipeline root, no image: deployed
    for i in inputs:
        args += ["--input", i]
    return main(args)


def test_start_runs_the_deployed_template_and_decodes_outputs(vertex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy("pairs", vertex, "x=3") == 0
    deployed = capsys.readouterr().out.strip()
    assert deployed.startswith(f"{PARENT}/pipelineJobs/pairs-")
    assert start("pairs", "x=5") == 0
    assert capsys.readouterr().out.endswith(json.dumps({"doubled": 10, "note": "x=5"}, indent=2) + "\n")
    created = [json.loads(raw) for method, path, raw in FakeVertex.seen if method == "POST"]
    assert created[1]["runtimeConfig"] == {"gcsOutputDirectory": str(vertex), "parameterValues": {"x": 5}}
    assert created[1]["labels"]["typedflow-workflow"] == "pairs"
    assert created[1]["pipelineSpec"] == created[0]["pipelineSpec"]  # the deployed template, as deployed
    assert start("nested", "xs=[1]") == 2
    assert "no deployment of 'nested' in p/europe-west4" in capsys.readouterr().err


def test_runs_commands_and_a_readable_failure(vertex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flag = tmp_path / "flag"
    assert deploy("flaky", vertex, "x=1", f"flag={flag}") == 0
    capsys.readouterr()
    flag.touch()
    assert start("flaky", "x=2", f"flag={flag}") == 1
    err = capsys.readouterr().err
    assert "failed at node gate: RuntimeError: blocked by flag" in err  # from the run's failure record
    assert 'raise RuntimeError(f"blocked by {Path(flag).name}")' in err

    runs = ["runs"]
    assert main([*runs, "list", *WHERE, "--name", "flaky"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [r[1:3] for r in rows] == [["flaky", "failed"], ["flaky", "succeeded"]]
    bad, ok = rows[0][0], rows[1][0]
    assert main([*runs, "list", *WHERE, "--status", "succeeded"]) == 0
    assert [r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]] == [ok]

    assert main([*runs, "outputs", ok, *WHERE]) == 0
    assert capsys.readouterr().out == "3\n"
    assert main([*runs, "outputs", bad, *WHERE]) == 1
    assert "failed at node gate: RuntimeError: blocked by flag" in capsys.readouterr().err

    assert main([*runs, "show", bad, *WHERE]) == 0
    shown = capsys.readouterr().out
    assert "status    failed" in shown and f"run {bad} failed at node gate: RuntimeError: blocked by flag" in shown
    table = {line.split()[0]: line.split() for line in shown.splitlines() if line.startswith(("shout ", "gate "))}
    assert table["shout"][1:3] == ["succeeded", "1"] and table["gate"][1:3] == ["failed", "1"]
    assert "console.cloud.google.com/vertex-ai" in shown

    assert main([*runs, "logs", bad, *WHERE, "--node", "shout"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "==> shout (attempt 1) <==\nshout 2\nshout 2 on stderr\n"
    assert "console.cloud.google.com/logs/query" in captured.err

    # retry: the template again, with its inputs and caching on
    flag.unlink()
    assert main([*runs, "retry", bad, *WHERE, "--wait"]) == 0
    assert capsys.readouterr().out == "5\n"
    body = json.loads([raw for method, _, raw in FakeVertex.seen if method == "POST"][-1])
    assert body["runtimeConfig"]["parameterValues"] == {"x": 2, "flag": str(flag)}
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert all(t.get("cachingOptions") == {"enableCache": True} for t in tasks.values()), tasks
    assert main([*runs, "retry", ok, *WHERE]) == 2


def test_cancel_and_bad_input(vertex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from google.cloud import aiplatform_v1

    assert deploy("pairs", vertex, "x=1") == 0
    name = capsys.readouterr().out.strip()
    FakeVertex.jobs[name].state = aiplatform_v1.PipelineState.PIPELINE_STATE_RUNNING
    job_id = name.rsplit("/", 1)[-1]
    assert main(["runs", "cancel", job_id, *WHERE]) == 0
    assert ("POST", f"/v1/{name}:cancel") in [(m, p.split("?")[0]) for m, p, _ in FakeVertex.seen]
    assert main(["runs", "show", name, *WHERE]) == 0  # a full resource name names the run too
    assert "status    cancelled" in capsys.readouterr().out
    assert main(["runs", "cancel", job_id, *WHERE]) == 2
    assert "is not running (cancelled)" in capsys.readouterr().err
    for args in (["show", "Not_A_Job"], ["show", "missing-job"], ["list", "--target", "vertex"]):
        rc = main(["runs", *args, *(WHERE if args[0] != "list" else [])])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, (args, err)


def test_a_vertex_profile(
    vertex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.typedflow.profiles.gcp]\n"
        'target = "vertex"\nproject = "p"\nregion = "europe-west4"\n'
        f'pipeline-root = "{vertex}"\nimage = "python:3.11"\nno-bundle = true\n'
        'service-account = "runner@p.iam.gserviceaccount.com"\n'
    )
    monkeypatch.chdir(tmp_path)
    assert main(["deploy", SPEC + "pairs", "--profile", "gcp", "--input", "x=1"]) == 0
    capsys.readouterr()
    deployed = json.loads(next(raw for method, _, raw in FakeVertex.seen if method == "POST"))
    assert deployed["serviceAccount"] == "runner@p.iam.gserviceaccount.com"
    assert deployed["runtimeConfig"]["gcsOutputDirectory"] == str(vertex)
    monkeypatch.setenv("TYPEDFLOW_PROFILE", "gcp")
    assert main(["start", SPEC + "pairs", "--input", "x=2", "--wait", "--timeout", "120"]) == 0
    assert capsys.readouterr().out.endswith(json.dumps({"doubled": 4, "note": "x=2"}, indent=2) + "\n")
    started = json.loads([raw for method, _, raw in FakeVertex.seen if method == "POST"][-1])
    assert started["serviceAccount"] == "runner@p.iam.gserviceaccount.com"  # read back from the deployment
    assert main(["runs", "list", "--limit", "1"]) == 0  # the profile's target, project and region
    assert capsys.readouterr().out.splitlines()[1].split()[1:3] == ["pairs", "succeeded"]
    assert main(["config", "show"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["project"][0] == "p" and rows["project"][1:3] == ["profile", "gcp"]


def test_a_job_typedflow_did_not_submit_is_not_a_run(vertex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Another pipeline's job in the same project (no typedflow-workflow label) is not cancelled, retried or
    shown: retrying one failed with a KeyError traceback, cancelling one cancelled it."""
    from google.cloud import aiplatform_v1

    jobs = {}
    running, failed = (
        aiplatform_v1.PipelineState.PIPELINE_STATE_RUNNING,
        aiplatform_v1.PipelineState.PIPELINE_STATE_FAILED,
    )
    for job_id, state in (("other-running", running), ("other-failed", failed)):
        job = aiplatform_v1.PipelineJob(
            name=f"{PARENT}/pipelineJobs/{job_id}",
            display_name="other",
            state=state,
            labels={"team": "vision"},
        )
        job.runtime_config.gcs_output_directory = str(vertex)
        FakeVertex.jobs[job.name] = jobs[job_id] = job
    for args in (["cancel", "other-running"], ["retry", "other-failed"], ["show", "other-failed"]):
        assert main(["runs", *args, *WHERE]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not a typedflow run" in err, err
    assert [m for m, _, _ in FakeVertex.seen].count("POST") == 0  # neither cancelled nor submitted again
    assert jobs["other-running"].state == aiplatform_v1.PipelineState.PIPELINE_STATE_RUNNING


def test_a_resource_name_in_another_region_is_bad_input(vertex: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A full resource name in a region other than --region was a RuntimeError traceback from aiplatform."""
    for cmd in ("show", "cancel", "retry"):
        assert main(["runs", cmd, "projects/p/locations/us-central1/pipelineJobs/abc", *WHERE]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is a PipelineJob in region us-central1, not in europe-west4" in err, err
    assert FakeVertex.seen == []


def test_damaged_run_files_under_the_pipeline_root(
    vertex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure.json nested too deeply was a RecursionError traceback, an outputs.json holding NaN was printed
    as NaN (not JSON): the run is shown with the job's own error and a note naming the file, and its outputs
    are a one-line error naming the file."""
    flag = tmp_path / "flag"
    assert deploy("flaky", vertex, "x=1", f"flag={flag}") == 0
    ok = capsys.readouterr().out.strip().rsplit("/", 1)[-1]
    flag.touch()
    assert start("flaky", "x=2", f"flag={flag}") == 1
    capsys.readouterr()
    assert main(["runs", "list", *WHERE, "--status", "failed"]) == 0
    bad = capsys.readouterr().out.splitlines()[1].split()[0]
    runs_dir = vertex / "typedflow" / "runs"
    (runs_dir / bad / "failure.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (runs_dir / ok / "outputs.json").write_bytes(b'{"outputs": {"out": NaN}, "value": NaN}')
    (vertex / "typedflow" / "lineage" / bad / "000.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)

    assert main(["runs", "show", bad, *WHERE]) == 0
    out = capsys.readouterr().out
    assert f"run {bad} failed: PIPELINE_STATE_FAILED: The DAG failed" in out, out
    assert f"note: {runs_dir / bad / 'failure.json'}: JSON nested too deeply" in out
    # the damaged lineage record is left out, not every record of the run with it
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("shout ", "gate "))] == [
        ["shout", "succeeded"],
        ["gate", "failed"],
    ], out
    assert main(["runs", "outputs", bad, *WHERE]) == 1
    err = capsys.readouterr().err
    assert "JSON nested too deeply" in err and f"run {bad} failed: PIPELINE_STATE_FAILED" in err, err
    assert main(["runs", "outputs", ok, *WHERE]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert f"{runs_dir / ok / 'outputs.json'}: not JSON (NaN is not a JSON number)" in captured.err


def test_a_fifo_or_a_link_in_a_local_pipeline_root(
    vertex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under a local pipeline root (kfp.local) a FIFO in place of failure.json blocked runs show for ever, and
    a log that was a link to a file elsewhere was printed: a run file is read only as a plain file."""
    flag = tmp_path / "flag"
    flag.touch()
    assert deploy("flaky", vertex, "x=1", f"flag={flag}") == 0  # (the deployed job's own run fails)
    capsys.readouterr()
    assert main(["runs", "list", *WHERE]) == 0
    bad = capsys.readouterr().out.splitlines()[1].split()[0]
    run = vertex / "typedflow" / "runs" / bad
    (run / "failure.json").unlink()
    os.mkfifo(run / "failure.json")
    secret = tmp_path / "secret.txt"
    secret.write_text("not a log\n")
    (run / "logs" / "gate" / "2.log").symlink_to(secret)
    done: dict[str, int] = {}
    shows = threading.Thread(target=lambda: done.setdefault("rc", main(["runs", "show", bad, *WHERE])), daemon=True)
    shows.start()
    shows.join(30)
    if shows.is_alive():  # let the blocked reader go before failing
        os.close(os.open(run / "failure.json", os.O_WRONLY | os.O_NONBLOCK))
        shows.join(5)
        pytest.fail("runs show blocked on a FIFO")
    assert done["rc"] == 0
    out = capsys.readouterr().out
    assert f"note: {run / 'failure.json'}: not a plain file" in out and "PIPELINE_STATE_FAILED" in out, out
    assert main(["runs", "logs", bad, *WHERE]) == 0
    logs = capsys.readouterr().out
    assert "not a log" not in logs and "==> gate (attempt 1) <==\ngate 2\n" in logs, logs
