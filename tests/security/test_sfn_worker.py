"""The Step Functions worker trusts nothing it is sent (moto's engine, real task tokens).

Each test starts a real execution of a compiled state machine whose task requests go to a queue of its
own, takes the request the engine sent, tampers with it as an attacker who can send to the queue or
shape an execution's input would, and hands it to a worker. The execution must then fail at once with
``typedflow.RequestError`` (not wait for a heartbeat timeout), and nothing may be read or written
outside the worker's own store and cache.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from typedflow.backends.stepfunctions.deploy import deploy, start, wait
from typedflow.backends.stepfunctions.options import Options
from typedflow.backends.stepfunctions.protocol import REQUEST_KEY, TOKEN_KEY
from typedflow.backends.stepfunctions.runtime import publish_ir, store_for
from typedflow.backends.stepfunctions.worker import Worker

from tests.stepfunctions import sfn_flows as flows
from tests.support.aws import ROLE, Aws


@attrs.define
class Caught:
    """An execution waiting for the answer to one task request, and that request's message."""

    execution: str
    token: str
    request: dict[str, Any]

    def body(self, request: Any = None, token: str | None = None) -> str:
        return json.dumps({TOKEN_KEY: token or self.token, REQUEST_KEY: self.request if request is None else request})


@attrs.define
class Trap:
    aws: Aws
    queue_url: str
    cache: Path
    worker: Worker

    def catch(self, wf: Any, inputs: dict[str, Any]) -> Caught:
        opts = Options(queue_url=self.queue_url, bucket=self.aws.bucket, heartbeat_seconds=600)
        machine = deploy(wf.ir, opts, role_arn=ROLE, name=_name(), sfn=self.aws.sfn, s3=self.aws.s3)
        execution = start(
            wf.ir, opts, inputs, machine_arn=machine.arn, sfn=self.aws.sfn, s3=self.aws.s3, execution_name=_name()
        )
        for _ in range(200):
            got = self.aws.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=0, MaxNumberOfMessages=1)
            for msg in got.get("Messages", []):
                self.aws.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
                message = json.loads(msg["Body"])
                return Caught(execution, message[TOKEN_KEY], message[REQUEST_KEY])
            import time

            time.sleep(0.02)
        raise AssertionError("the execution sent no task request")

    def refused(self, caught: Caught, body: str) -> str:
        """Hand ``body`` to the worker; the execution must fail with RequestError. Returns the cause."""
        result = self.worker.handle(body)
        assert result is not None and not result.ok
        assert result.error == "typedflow.RequestError", (result.error, result.cause)
        desc = wait(self.aws.sfn, caught.execution, poll=0.02, timeout=30)
        assert desc["status"] == "FAILED"
        assert desc.get("error") == "typedflow.RequestError"
        return result.cause


def _name() -> str:
    return f"sec-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def trap(aws: Aws, tmp_path: Path) -> Iterator[Trap]:
    queue_url = aws.sqs.create_queue(QueueName=f"sec-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    worker = Worker(queue_url, bucket=aws.bucket, sqs=aws.sqs, sfn=aws.sfn, s3=aws.s3, wait_seconds=0)
    store = store_for(aws.bucket, aws.s3)
    saved = store.cache
    store.cache = tmp_path / "cache"
    try:
        yield Trap(aws, queue_url, store.cache, worker)
    finally:
        store.cache = saved


def test_a_digest_used_as_a_path_is_refused(trap: Trap, tmp_path: Path) -> None:
    # The attack: a handle whose sha256 climbs out of the cache into site-packages.
    caught = trap.catch(flows.passthrough, {"n": 3})
    assert caught.request["task"] == "write_lines"
    req = copy.deepcopy(caught.request)
    req["task"] = "count_lines"
    req["args"] = {"f": {"uri": f"{trap.aws.bucket}/objects/xx/x", "sha256": "../../../evil.pth", "format": None}}
    cause = trap.refused(caught, caught.body(req))
    assert "sha256" in cause
    assert not list(tmp_path.rglob("evil.pth"))


def test_a_local_path_is_never_read(trap: Trap) -> None:
    caught = trap.catch(flows.passthrough, {"n": 3})
    req = copy.deepcopy(caught.request)
    req["task"] = "count_lines"
    req["args"] = {"f": {"uri": "/etc/hostname", "sha256": "0" * 64, "format": None}}
    cause = trap.refused(caught, caught.body(req))
    assert "/etc/hostname" in cause and "store" in cause


def test_another_bucket_is_refused(trap: Trap, aws: Aws) -> None:
    aws.s3.create_bucket(Bucket="attacker-bucket")
    caught = trap.catch(flows.chain, {"x": 1})
    req = {**caught.request, "store": "s3://attacker-bucket/x"}
    cause = trap.refused(caught, caught.body(req))
    assert "attacker-bucket" in cause
    assert aws.s3.list_objects_v2(Bucket="attacker-bucket").get("KeyCount", 0) == 0


def test_an_offloaded_value_from_elsewhere_is_refused(trap: Trap, aws: Aws) -> None:
    aws.s3.create_bucket(Bucket="other-values")
    aws.s3.put_object(Bucket="other-values", Key="v.json", Body=b"41")
    caught = trap.catch(flows.chain, {"x": 1})
    req = copy.deepcopy(caught.request)
    req["args"] = {"x": {"__tf__": "ref", "uri": "s3://other-values/v.json", "sha256": "a" * 64}}
    assert "not the store's value" in trap.refused(caught, caught.body(req))


def test_a_manifest_that_leaves_the_staging_directory_is_refused(trap: Trap, aws: Aws, tmp_path: Path) -> None:
    # A directory manifest planted in the bucket: its entry climbs out of the staging directory.
    store = store_for(aws.bucket, aws.s3)
    victim = tmp_path / "victim"
    victim.write_text("intact")
    body = b"pwned"
    import hashlib

    sha = hashlib.sha256(body).hexdigest()
    aws.s3.put_object(Bucket="typedflow-tests", Key=f"tf/objects/{sha[:2]}/{sha}", Body=body)
    manifest = json.dumps([["../../../../../../../../" + str(victim).lstrip("/"), sha]]).encode()
    from typedflow.ir.canonical import canonical_bytes

    tree = hashlib.sha256(canonical_bytes(json.loads(manifest))).hexdigest()
    aws.s3.put_object(Bucket="typedflow-tests", Key=f"tf/trees/{tree}.json", Body=manifest)
    with pytest.raises(Exception, match="leaves its directory"):
        store.fetch(store.url(store.key("trees", tree)), tree, True)
    assert victim.read_text() == "intact"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda req: [req], "JSON object"),
        (lambda req: {**req, "heartbeat": "abc"}, "heartbeat"),
        (lambda req: {**req, "retry": "abc"}, "retry"),
        (lambda req: {**req, "store": "not a uri"}, "store"),
        (lambda req: {**req, "ir": "sha256:" + "0" * 64}, "not in"),
        (lambda req: {**req, "ir": ""}, "digest"),
        (lambda req: {**req, "task": "nope"}, "no task"),
        (lambda req: {**req, "run": "../../x"}, "execution name"),
        (lambda req: {**req, "args": {"x": "1"}}, "expected int"),
        (lambda req: {**req, "args": {"x": 1.5}}, "expected int"),
        (lambda req: {**req, "args": {}}, "missing input"),
        (lambda req: {**req, "args": {"x": 1, "y": 2}}, "unknown input"),
        (lambda req: {**req, "args": {"x": {"__tf__": "json", "text": "["}}}, "JSON"),
        (lambda req: {**req, "v": 99}, "version"),
    ],
)
def test_malformed_requests_are_answered_at_once(trap: Trap, change: Any, says: str) -> None:
    caught = trap.catch(flows.chain, {"x": 1})
    cause = trap.refused(caught, caught.body(change(caught.request)))
    assert says in cause


def test_an_argument_nested_too_deeply_is_refused(trap: Trap) -> None:
    caught = trap.catch(flows.chain, {"x": 1})
    body = caught.body({**caught.request, "args": {"x": "DEEP"}}).replace('"DEEP"', "[" * 300 + "1" + "]" * 300)
    assert "deep" in trap.refused(caught, body)


def test_a_message_the_parser_cannot_read_is_answered_when_its_token_is_first(trap: Trap) -> None:
    caught = trap.catch(flows.chain, {"x": 1})
    body = caught.body()
    deep = body[:-1] + ', "pad": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert "nested too deeply" in trap.refused(caught, deep)
    assert trap.worker.handle("[" * 100_000) is None  # no token to answer: dropped, with a warning


def test_the_ir_must_have_the_digest_asked_for(trap: Trap, aws: Aws) -> None:
    # Another IR uploaded under the chain's digest: the worker must not run it.
    store = store_for(aws.bucket, aws.s3)
    caught = trap.catch(flows.chain, {"x": 1})
    from typedflow.ir.codec import dumps

    forged = dumps(flows.diamond.ir)
    key = store.ir_key(flows.chain.ir.digest)
    original = store.get_bytes(key)
    aws.s3.put_object(Bucket=store.bucket, Key=key, Body=forged.encode())
    from typedflow.backends.stepfunctions import runtime

    runtime._IR_CACHE.pop(flows.chain.ir.digest, None)
    try:
        assert "tampered" in trap.refused(caught, caught.body())
    finally:
        assert original is not None
        aws.s3.put_object(Bucket=store.bucket, Key=key, Body=original)
        runtime._IR_CACHE.pop(flows.chain.ir.digest, None)


def test_the_worker_needs_its_own_store(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    from typedflow.cli import main

    assert main(["worker", "stepfunctions", "--queue-url", "https://q"]) == 2
    assert "--bucket is required" in capsys.readouterr().err
    publish_ir(store_for(aws.bucket, aws.s3), flows.chain.ir)
    from typedflow.backends.stepfunctions.runtime import run_request

    req = {"v": 1, "ir": flows.chain.ir.digest, "task": "inc", "args": {"x": 1}}
    result = run_request(req, store_uri=None, s3=aws.s3)
    assert result.error == "typedflow.RequestError" and "no artifact store" in result.cause


def test_tampered_cached_object_is_fetched_again(trap: Trap, aws: Aws) -> None:
    # A file the worker cached locally is changed (by a task, or anyone with access to the host): the
    # next task that needs it gets the stored bytes again, not the changed ones.
    store = store_for(aws.bucket, aws.s3)
    body = b"line\n" * 3
    import hashlib

    sha = hashlib.sha256(body).hexdigest()
    src = trap.cache.parent / "in.txt"
    src.write_bytes(body)
    uri, got = store.put_file(src)
    assert got == sha
    local = store.fetch(uri, sha, False)
    import os

    os.chmod(local, 0o644)
    local.write_bytes(b"tampered\n")
    again = store.fetch(uri, sha, False)
    assert again.read_bytes() == body


def test_a_tampered_object_in_the_bucket_is_never_used(aws: Aws, tmp_path: Path) -> None:
    store = store_for(aws.bucket, aws.s3)
    src = tmp_path / "in.txt"
    src.write_bytes(b"original")
    uri, sha = store.put_file(src)
    _, key = uri.removeprefix("s3://").split("/", 1)
    aws.s3.put_object(Bucket=store.bucket, Key=key, Body=b"changed!")
    saved = store.cache
    store.cache = tmp_path / "cache"
    try:
        with pytest.raises(Exception, match="does not match its digest"):
            store.fetch(uri, sha, False)
        assert not list((tmp_path / "cache").rglob(sha))
    finally:
        store.cache = saved
        aws.s3.put_object(Bucket=store.bucket, Key=key, Body=b"original")


def test_an_input_from_another_bucket_is_copied_into_the_store_at_start(aws: Aws, tmp_path: Path) -> None:
    # The worker reads only its own store: `start` (with the caller's credentials) brings the file in.
    aws.s3.create_bucket(Bucket="user-data")
    aws.s3.put_object(Bucket="user-data", Key="in.txt", Body=b"a\nb\nc\n")
    wf = flows.count_lines_of
    remote = aws.run(wf.ir, {"f": {"uri": "s3://user-data/in.txt", "sha256": None, "format": None}})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": 3}


def test_a_warm_worker_keeps_only_the_latest_irs(aws: Aws) -> None:
    """IRs are kept by digest for the next task of the same workflow, but not every version a worker
    kept across deploys has seen."""
    from typedflow.backends.stepfunctions import runtime

    from typedflow.ir.codec import with_digest

    store = store_for(aws.bucket, aws.s3)
    base = flows.chain.ir
    docs = [
        with_digest(attrs.evolve(base, workflow=attrs.evolve(base.workflow, name=f"chain_v{i}")))
        for i in range(runtime.IR_CACHE_SIZE + 3)
    ]
    for doc in docs:
        publish_ir(store, doc)
    runtime._IR_CACHE.clear()
    for doc in docs:
        assert runtime.load_ir(store, doc.digest).digest == doc.digest
    assert list(runtime._IR_CACHE) == [d.digest for d in docs[-runtime.IR_CACHE_SIZE :]]
    recent = docs[-runtime.IR_CACHE_SIZE]
    assert runtime.load_ir(store, recent.digest) is runtime._IR_CACHE[recent.digest]  # served, now the latest
    assert next(reversed(runtime._IR_CACHE)) == recent.digest
    runtime._IR_CACHE.clear()
