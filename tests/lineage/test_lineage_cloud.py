"""Content-addressed cloud objects: create-only writes and verified pulls into the local log."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from typedflow.lineage import LineageLog, origin_hash, verify_log
from typedflow.lineage.cloud import CloudObject, iter_s3, object_for, pull, put_gcs, put_s3

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

BUCKET = "typedflow-lineage-test"


@pytest.fixture
def s3(monkeypatch) -> Any:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _task_records(make_record, run_id: str) -> list[Any]:
    from typedflow.lineage import new_record

    common = {"run_id": run_id, "workflow": "wf", "ir_digest": "sha256:" + "a" * 64, "target": "stepfunctions"}
    return [
        new_record("run_start", status="started", executor="sqs", started_at="2026-11-23T18:00:00.000000Z", **common),
        make_record(
            0,
            executor="sqs",
            started_at="2026-11-23T18:00:01.000000Z",
            ended_at="2026-11-23T18:00:02.000000Z",
            **common,
        ),
        make_record(
            1,
            executor="sqs",
            started_at="2026-11-23T18:00:02.000000Z",
            ended_at="2026-11-23T18:00:03.000000Z",
            **common,
        ),
        new_record(
            "run_end",
            status="succeeded",
            executor="sqs",
            started_at="2026-11-23T18:00:00.000000Z",
            ended_at="2026-11-23T18:00:04.000000Z",
            **common,
        ),
    ]


def test_key_is_the_content_hash(make_record) -> None:
    rec = make_record()
    key, body, digest = object_for(rec, "s3", BUCKET, "team/proj/")
    assert key == f"team/proj/lineage/{rec.run_id}/{digest}.json"
    assert hashlib.sha256(body).hexdigest() == digest
    assert b'"seq":-1' in body and b'"prev_hash":""' in body
    assert f'"log_origin":"s3://{BUCKET}/team/proj/lineage/{rec.run_id}/"'.encode() in body


def test_s3_put_is_create_only_and_pull_verifies(s3, make_record, tmp_path) -> None:
    run_id = "ab" * 16
    records = _task_records(make_record, run_id)
    for rec in reversed(records):  # upload order must not matter
        assert put_s3(rec, BUCKET, "p", client=s3).created
    # moto 5.2.5 honours If-None-Match: the second write of a key is refused with 412.
    again = put_s3(records[1], BUCKET, "p", client=s3)
    assert not again.created
    with pytest.raises(Exception) as info:
        s3.put_object(Bucket=BUCKET, Key=again.uri.split("/", 3)[3], Body=b"overwrite", IfNoneMatch="*")
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    objects = list(iter_s3(BUCKET, "p", client=s3))
    assert len(objects) == 4
    log = LineageLog(tmp_path / "log.jsonl")
    result = pull(objects, log)
    assert (result.appended, result.skipped, result.rejected) == (4, 0, ())
    # Pulling again appends nothing: each object is recognised by its hash.
    assert pull(list(iter_s3(BUCKET, "p", run_id=run_id, client=s3)), log).skipped == 4
    pulled = [r for r, _ in log.records()]
    log.close()
    assert [r.kind for r in pulled] == ["run_start", "task", "task", "run_end"]
    assert [r.node_id for r in pulled if r.kind == "task"] == ["n0", "n1"]
    assert {o.uri.rsplit("/", 1)[1].removesuffix(".json") for o in objects} == {origin_hash(r) for r in pulled}
    assert all(r.log_origin == f"s3://{BUCKET}/p/lineage/{run_id}/" for r in pulled)
    assert verify_log(tmp_path / "log.jsonl").ok


def test_pull_rejects_objects_that_do_not_match_their_key(make_record, tmp_path) -> None:
    rec = make_record()
    key, body, digest = object_for(rec, "s3", BUCKET)
    good = CloudObject(f"s3://{BUCKET}/{key}", body)
    tampered = CloudObject(f"s3://{BUCKET}/{key}", body.replace(b'"status":"succeeded"', b'"status":"failed"'))
    renamed = CloudObject(f"s3://{BUCKET}/{key.rsplit('/', 1)[0]}/{'0' * 64}.json", body)
    other_run = CloudObject(f"s3://{BUCKET}/lineage/someone-else/{digest}.json", body)
    with LineageLog(tmp_path / "log.jsonl") as log:
        result = pull([tampered, renamed, other_run, good], log)
    assert result.appended == 1
    reasons = dict(result.rejected)
    assert reasons[tampered.uri] == "content hash does not match the key"
    assert "run_id" in reasons[other_run.uri]
    assert len(result.rejected) == 3


class _FakeBlob:
    def __init__(self, store: dict[str, bytes], name: str) -> None:
        self.store, self.name = store, name

    def upload_from_string(self, data: bytes, content_type: str, if_generation_match: int) -> None:
        assert if_generation_match == 0
        if self.name in self.store:
            exc = type("PreconditionFailed", (Exception,), {"code": 412})
            raise exc("exists")
        self.store[self.name] = data


class _FakeGCS:
    """Only the calls put_gcs makes, with GCS's create-only semantics for generation 0."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def bucket(self, name: str) -> Any:
        client = self

        class _Bucket:
            def blob(self, key: str) -> _FakeBlob:
                return _FakeBlob(client.store, key)

        return _Bucket()


def test_gcs_put_is_create_only(make_record) -> None:
    gcs = _FakeGCS()
    rec = make_record()
    first = put_gcs(rec, "bkt", client=gcs)
    assert first.created and first.uri.startswith("gs://bkt/lineage/")
    assert not put_gcs(rec, "bkt", client=gcs).created
    assert list(gcs.store.values()) == [object_for(rec, "gs", "bkt")[1]]


def test_directory_objects_and_pull_cli(tmp_path: Path) -> None:
    """Records written as content-addressed files (Vertex's /gcs/ mount, kfp.local) pull into the log."""
    import subprocess
    import sys

    from typedflow.lineage.cloud import iter_dir, put_dir
    from typedflow.lineage.record import new_record

    recs = [
        new_record(
            "task",
            run_id="job-1",
            workflow="wf",
            ir_digest="sha256:" + "0" * 64,
            target="vertex",
            executor="vertex-container",
            status="succeeded",
            node_id=f"n{i}",
            task="t",
            code_digest="sha256:" + "1" * 64,
            ended_at=f"2026-11-23T00:00:0{i}Z",
        )
        for i in range(3)
    ]
    first = put_dir(recs[0], tmp_path / "root")
    assert first.created and not put_dir(recs[0], tmp_path / "root").created  # never overwritten
    for r in recs[1:]:
        put_dir(r, tmp_path / "root")
    assert len(list(iter_dir(tmp_path / "root", run_id="job-1"))) == 3
    log = tmp_path / "log.jsonl"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "lineage",
            "pull",
            "job-1",
            "--target",
            "vertex",
            "--from",
            str(tmp_path / "root"),
            "--log",
            str(log),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "3 appended, 0 already present, 0 rejected" in out.stdout and "OK: 3 records" in out.stdout
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "lineage",
            "pull",
            "job-1",
            "--target",
            "vertex",
            "--from",
            str(tmp_path / "root"),
            "--log",
            str(log),
        ],
        capture_output=True,
        text=True,
    )
    assert "0 appended, 3 already present" in again.stdout
    # a tampered object is rejected and the command fails
    obj = next(iter_dir(tmp_path / "root", run_id="job-1"))
    path = Path(obj.uri)
    path.chmod(0o644)
    path.write_bytes(obj.body.replace(b'"n', b'"m', 1))
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "lineage",
            "pull",
            "job-1",
            "--target",
            "vertex",
            "--from",
            str(tmp_path / "root"),
            "--log",
            str(tmp_path / "log2.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "content hash does not match" in bad.stderr
