"""@task(env=..., secrets=[...]): references in the IR, values resolved by the runtime as the task starts
(env:, dotenv:, AWS Secrets Manager in moto, Google Secret Manager through its REST transport), never in
the IR, compiled output, records, logs or errors; --print-iam-policy grants read to exactly those secrets."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.runs import runs_flows as flows
from tests.support.aws import ROLE, Aws
from typedflow import task
from typedflow.cli import main
from typedflow.errors import TaskDefinitionError
from typedflow.ir.codec import dumps
from typedflow.runtime.secret_stores import clear_clients, parse_dotenv

VALUE = "s3cr3t-value-42"


def _everything_under(root: Path) -> str:
    return "\n".join(p.read_text("utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


def test_local_env_and_secret_reach_the_task_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNS_TEST_SOURCE", VALUE)
    monkeypatch.delenv("RUNS_TOKEN", raising=False)
    store = tmp_path / "s"
    template = flows.secretive.ir.task("uses_secret")
    assert template.env == (("RUNS_MODE", "fast"),)
    assert template.secrets == (("RUNS_TOKEN", "env:RUNS_TEST_SOURCE"),)
    assert "env:RUNS_TEST_SOURCE" in dumps(flows.secretive.ir)
    args = ["run", "tests.runs.runs_flows:secretive", "--store", str(store), "--log-format", "plain"]
    assert main([*args, "--input", "x=1"]) == 0
    assert capsys.readouterr().out == json.dumps(f"fast:{len(VALUE)}") + "\n"
    assert "RUNS_TOKEN" not in __import__("os").environ  # set only while the task ran
    assert main([*args, "--input", "x=-1"]) == 1
    capsys.readouterr()
    assert main(["runs", "list", "--store", str(store), "--limit", "1"]) == 0
    rid = capsys.readouterr().out.splitlines()[1].split()[0]
    assert main(["runs", "show", rid, "--store", str(store)]) == 0
    shown = capsys.readouterr().out
    assert "RuntimeError: refused with token ***" in shown
    assert main(["runs", "logs", rid, "--store", str(store)]) == 0
    assert "mode fast token ***" in capsys.readouterr().out
    assert VALUE not in _everything_under(store)  # IR, journal, records, logs, failures


def test_a_missing_secret_fails_the_task_naming_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNS_TEST_SOURCE", raising=False)
    args = ["run", "tests.runs.runs_flows:secretive", "--store", str(tmp_path), "--input", "x=1"]
    assert main([*args, "--log-format", "plain"]) == 1
    err = capsys.readouterr().err
    assert "typedflow.SecretUnavailable: secret RUNS_TOKEN of task uses_secret (env:RUNS_TEST_SOURCE)" in err


def test_definition_time_checks() -> None:
    def body(x: int) -> int:
        return x

    for secrets, expected in (
        (["TOKEN=hunter2"], "is not a reference"),
        (["TOKEN=literal:abc"], "is not a reference"),
        (["PATH=env:X"], 'not "NAME=REFERENCE"'),
        (["TOKEN"], 'not "NAME=REFERENCE"'),
        (["T=aws-sm:bad name"], "expected aws-sm:NAME_OR_ARN"),
        (["T=env:A", "T=env:B"], "T is set twice"),
    ):
        with pytest.raises(TaskDefinitionError, match=re.escape(expected)):
            task(secrets=secrets)(body).template  # noqa: B018
    with pytest.raises(TaskDefinitionError, match="not a variable name"):
        task(env={"1X": "a"})(body).template  # noqa: B018


def test_dotenv_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typedflow.dsl.secret import SecretUnavailableError, resolve_ref

    text = "export A=1\n# c\nB=\"two\\nlines\"\nC='raw $x'\nD=plain # comment\nbad line\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two\nlines", "C": "raw $x", "D": "plain"}
    (tmp_path / ".env").write_text(text)
    monkeypatch.setenv("TYPEDFLOW_DOTENV", str(tmp_path / ".env"))
    assert resolve_ref("dotenv:B") == "two\nlines"
    with pytest.raises(SecretUnavailableError, match="sets no E"):
        resolve_ref("dotenv:E")


def test_dotenv_quoted_values_take_a_comment_after_them() -> None:
    # as python-dotenv reads them: the quotes go, the comment is no part of the value
    text = 'A="bee value" # the pass\nB=\'raw # not a comment\'  # comment\nC="x\\"y"#c\n'
    assert parse_dotenv(text) == {"A": "bee value", "B": "raw # not a comment", "C": 'x"y'}


@pytest.fixture()
def aws_secrets(aws: Aws) -> Iterator[Any]:
    import boto3

    sm = boto3.client("secretsmanager")
    clear_clients()
    made = []
    for name, value in (("typedflow-tests/db", json.dumps({"password": VALUE})), ("typedflow-tests/token", "tok-9876")):
        try:
            made.append(sm.create_secret(Name=name, SecretString=value)["ARN"])
        except sm.exceptions.ResourceExistsException:
            pass
    yield sm
    clear_clients()


def test_aws_secrets_manager_on_step_functions(aws: Aws, aws_secrets: Any, tmp_path: Path) -> None:
    ex = aws.run(flows.database.ir, {"user": "alice"})
    assert ex.status == "SUCCEEDED" and ex.outputs == {"out": f"alice:{len(VALUE)}:8"}
    ex = aws.run(flows.database.ir, {"user": "mallory"})
    assert ex.status == "FAILED"
    from typedflow.backends.stepfunctions.runtime import store_for

    store = store_for(aws.bucket, aws.s3)
    name = ex.arn.rsplit(":", 1)[-1]
    failure = store.get_node_failure(name, "connect")
    assert failure is not None and failure["message"] == "mallory may not use *** or ***"
    assert VALUE not in failure["traceback"] and "tok-9876" not in failure["traceback"]
    log = store.get_bytes(store.key("runs", name, "logs", "connect", "1.log"))
    assert log == b"connecting mallory with ***\n"
    bucket, prefix = aws.bucket.removeprefix("s3://").split("/", 1)
    for obj in aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = aws.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        assert VALUE.encode() not in body and b"tok-9876" not in body, obj["Key"]
    definition = json.dumps(aws.compile(flows.database.ir))
    assert "aws-sm:typedflow-tests/db#password" not in definition  # the definition names the IR, not secrets
    assert VALUE not in definition


def test_missing_aws_secret_is_a_clear_task_failure(aws: Aws, aws_secrets: Any) -> None:
    from typedflow.dsl.secret import SecretUnavailableError, resolve_ref

    with pytest.raises(SecretUnavailableError, match=r"cannot give secret typedflow-tests/nope: ResourceNotFound"):
        resolve_ref("aws-sm:typedflow-tests/nope")
    with pytest.raises(SecretUnavailableError, match=r"typedflow-tests/token#k: the secret is not a JSON object"):
        resolve_ref("aws-sm:typedflow-tests/token#k")
    assert resolve_ref("aws-sm:typedflow-tests/db#password") == VALUE


def test_worker_policy_grants_exactly_the_declared_secrets(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["deploy", "tests.runs.runs_flows:database", "--target", "stepfunctions", "--bucket", aws.bucket]
    assert main([*args, "--no-bundle", "--role-arn", ROLE, "--print-iam-policy", "worker"]) == 0
    policy = json.loads(capsys.readouterr().out)
    (stmt,) = [s for s in policy["Statement"] if s["Sid"] == "TaskSecrets"]
    assert stmt["Action"] == ["secretsmanager:GetSecretValue"]
    assert stmt["Resource"] == [
        "arn:aws:secretsmanager:*:*:secret:typedflow-tests/db-??????",
        "arn:aws:secretsmanager:*:*:secret:typedflow-tests/token-??????",
    ]
    assert (
        main(["deploy", "tests.runs.runs_flows:pairs", *args[2:], "--no-bundle", "--print-iam-policy", "worker"]) == 0
    )
    assert "TaskSecrets" not in capsys.readouterr().out


class _SecretManager(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        _SecretManager.seen.append(self.path)
        m = re.fullmatch(r"/v1/(projects/[^/]+/secrets/[^/]+/versions/[^/:]+):access(\?.*)?", self.path)
        if m is None or m.group(1) != "projects/p/secrets/hf-token/versions/latest":
            body = json.dumps({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}).encode()
            self.send_response(404)
        else:
            data = base64.b64encode(b"hf_" + VALUE.encode()).decode()
            body = json.dumps({"name": m.group(1).replace("latest", "3"), "payload": {"data": data}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_google_secret_manager_through_its_rest_transport(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    from typedflow.dsl.secret import SecretUnavailableError, resolve_ref
    from typedflow.runtime import secret_stores

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _SecretManager)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    client = secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": f"http://127.0.0.1:{srv.server_port}"},
    )
    secret_stores.clear_clients()
    secret_stores._CLIENTS[("gcp-sm", None)] = client
    try:
        args = ["run", "tests.runs.runs_flows:pushed", "--store", str(tmp_path), "--input", "repo=r"]
        assert main([*args, "--log-format", "plain"]) == 0
        assert capsys.readouterr().out == '"r:hf"\n'
        assert _SecretManager.seen[-1].startswith("/v1/projects/p/secrets/hf-token/versions/latest:access")
        with pytest.raises(SecretUnavailableError, match="cannot give secret projects/p/secrets/nope/versions/2"):
            resolve_ref("gcp-sm:projects/p/secrets/nope/versions/2")
    finally:
        secret_stores.clear_clients()
        srv.shutdown()
    assert VALUE not in _everything_under(tmp_path)
