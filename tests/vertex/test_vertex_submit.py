"""Submission through aiplatform's real REST transport to a loopback fake Vertex endpoint; what
goes over the wire is re-parsed strictly. ``job.state`` is never read (it retries for minutes)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import vertex_flows as flows
from typedflow.backends.vertex.deploy import build_job, check_parameters

from typedflow.errors import InputError


class FakeVertex(BaseHTTPRequestHandler):
    seen: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2 as pb

        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        FakeVertex.seen.append((self.path, raw))
        body = json.loads(raw)
        m = re.match(r"^/v1/(projects/[^/]+/locations/[^/]+)/(pipelineJobs|schedules)", self.path)
        assert m is not None
        if m.group(2) == "pipelineJobs":
            msg = aiplatform_v1.PipelineJob.from_json(raw, ignore_unknown_fields=False)
            json_format.ParseDict(body["pipelineSpec"], pb.PipelineSpec(), ignore_unknown_fields=False)
            job_id = re.search(r"pipelineJobId=([^&]+)", self.path)
            msg.name = f"{m.group(1)}/pipelineJobs/{job_id.group(1) if job_id else 'x'}"
            out = aiplatform_v1.PipelineJob.to_json(msg).encode()
        else:
            sched = aiplatform_v1.Schedule.from_json(raw, ignore_unknown_fields=False)
            json_format.ParseDict(
                body["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"],
                pb.PipelineSpec(),
                ignore_unknown_fields=False,
            )
            sched.name = f"{m.group(1)}/schedules/123"
            out = aiplatform_v1.Schedule.to_json(sched).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def vertex() -> Iterator[list[tuple[str, bytes]]]:
    from google.cloud import aiplatform
    from google.cloud.aiplatform.utils import gcs_utils

    FakeVertex.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeVertex)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    aiplatform.init(api_transport="rest", api_endpoint=f"http://127.0.0.1:{srv.server_port}")
    logging.getLogger("google.cloud.aiplatform").setLevel(logging.WARNING)
    try:
        with mock.patch.object(gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist"):
            yield FakeVertex.seen
    finally:
        srv.shutdown()
        aiplatform.init(api_transport="grpc", api_endpoint=None)


def test_submit_sends_a_strictly_valid_pipeline_job(vertex: list[tuple[str, bytes]], tmp_path: Path) -> None:
    from google.auth.credentials import AnonymousCredentials

    job = build_job(
        flows.records.ir,
        project="p",
        region="us-central1",
        pipeline_root="gs://b/root",
        parameter_values={"n": 3, "cfg": {"name": "a", "threshold": 0.5}},
        enable_caching=False,
        labels={"team": "ml"},
        credentials=AnonymousCredentials(),
        spec_dir=tmp_path,
    )
    job.submit(create_request_timeout=30)
    ((path, raw),) = vertex
    body = json.loads(raw)
    assert path.startswith("/v1/projects/p/locations/us-central1/pipelineJobs")
    assert body["runtimeConfig"]["parameterValues"] == {"n": 3, "cfg": {"name": "a", "threshold": 0.5}}
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/root"
    assert body["labels"]["team"] == "ml"
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert tasks["stats"]["cachingOptions"] == {"enableCache": False}  # overrides every task
    assert job.resource_name.startswith("projects/p/locations/us-central1/pipelineJobs/")


def test_parameter_types_are_checked_before_aiplatform() -> None:
    with pytest.raises(InputError, match=r'input "n": expected int, got str.*missing input "cfg"'):
        check_parameters(flows.records.ir, {"n": "3"})
    with pytest.raises(InputError, match="unknown input"):
        check_parameters(flows.chain.ir, {"x": 1, "zzz": 2})
    assert check_parameters(flows.chain.ir, {"x": 1}) == {"x": 1}


def test_cli_deploy_and_schedule(
    vertex: list[tuple[str, bytes]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    from typedflow.cli import main

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    flows_file = str(Path(flows.__file__))
    common = [
        "--target",
        "vertex",
        "--project",
        "p",
        "--region",
        "europe-west4",
        "--pipeline-root",
        "gs://b/r",
        "--labels",
        "a=1,b=2",
        # nothing to upload (no Cloud Storage here): no bundle, and an image that has typedflow
        "--no-bundle",
        "--image",
        "python:3.11",
    ]
    assert main(["deploy", f"{flows_file}:chain", *common, "--input", "x=4", "--no-enable-caching"]) == 0
    assert main(["deploy", f"{flows_file}:nightly", *common, "--input", "x=4"]) == 0
    out = capsys.readouterr().out.split()
    assert out[0].startswith("projects/p/locations/europe-west4/pipelineJobs/")
    assert out[1] == "projects/p/locations/europe-west4/schedules/123"
    sched = json.loads(vertex[1][1])
    assert sched["cron"] == "0 3 * * *"
    assert sched["createPipelineJobRequest"]["pipelineJob"]["runtimeConfig"]["parameterValues"] == {"x": 4}
    assert main(["deploy", f"{flows_file}:chain", *common, "--input", "x=four"]) == 2


def test_deploy_without_credentials_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    # NO_GCE_CHECK: google-auth does not probe for a metadata server, so nothing leaves the machine
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{root}:{root / 'tests' / 'vertex'}",
        "NO_GCE_CHECK": "True",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "deploy",
            "vertex_flows:" + flows.chain.name,
            "--target",
            "vertex",
            "--project",
            "p",
            "--region",
            "us-central1",
            "--pipeline-root",
            "gs://b/root",
            "--input",
            "x=1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1 and r.stdout == "", r.stderr
    assert r.stderr.startswith("typedflow deploy: Google Cloud: Your default credentials were not found")
    assert "Traceback" not in r.stderr


def test_deploy_uploads_constant_files_then_submits(
    vertex: list[tuple[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import const_flows
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from typedflow.backends.vertex.constants import SCHEME, constant_key
    from typedflow.backends.vertex.deploy import deploy_command

    from typedflow.runtime.store import file_sha256
    from typedflow.shipping.codestore import LocalCode

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    args = argparse.Namespace(
        project="p",
        region="us-central1",
        pipeline_root="gs://b/root",
        input=None,
        inputs_file=None,
        image="python:3.11",  # has typedflow: nothing but the constant to upload
        enable_caching=None,
        labels=None,
        display_name=None,
        service_account=None,
        network=None,
        wait=False,
        run_once=False,
    )
    root = tmp_path / "root"  # the pipeline root as a container sees it (its /gcs/ mount)
    assert deploy_command(const_flows.notes_only.ir, args, code_store=LocalCode(root)) == 0
    sha = file_sha256(const_flows.DATA / "notes.txt")
    key = constant_key(sha, False)
    assert (root / key).read_bytes() == (const_flows.DATA / "notes.txt").read_bytes()
    assert f"uploaded gs://b/root/{key}" in capsys.readouterr().err
    ((_, raw),) = vertex
    assert f'"{SCHEME}{key}"' in json.dumps(json.loads(raw)["pipelineSpec"])
    assert deploy_command(const_flows.notes_only.ir, args, code_store=LocalCode(root)) == 0
    assert "uploaded" not in capsys.readouterr().err  # by content: once
