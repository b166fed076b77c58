"""Content-addressed cloud objects: create-only writes and verified pulls into the local log."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from typedflow.lineage import LineageLog, origin_hash, verify_log
from typedflow.lineage.cloud import CloudObject, iter_s3, object_for, pull, put_gcs, put_s3

if TYPE_CHECKING:
    from typedflow.lineage.signing import Ed25519Signer

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

BUCKET = "typedflow-lineage-test"


@pytest.fixture
def s3(monkeypatch) -> Any:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Fresh bucket names per test: inside the suite's session-wide moto mock, a nested mock keeps state.
    import sys
    import uuid

    here = sys.modules[__name__]
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setattr(here, "BUCKET", f"typedflow-lineage-test-{suffix}")
    monkeypatch.setattr(here, "ANCHOR", f"typedflow-lineage-anchor-{suffix}")
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
    from botocore.exceptions import ClientError

    run_id = "ab" * 16
    records = _task_records(make_record, run_id)
    for rec in reversed(records):  # upload order must not matter
        assert put_s3(rec, BUCKET, "p", client=s3).created
    # moto 5.2.5 honours If-None-Match: the second write of a key is refused with 412.
    again = put_s3(records[1], BUCKET, "p", client=s3)
    assert not again.created
    with pytest.raises(Exception) as info:
        s3.put_object(Bucket=BUCKET, Key=again.uri.split("/", 3)[3], Body=b"overwrite", IfNoneMatch="*")
    assert isinstance(info.value, ClientError) and info.value.response["Error"]["Code"] == "PreconditionFailed"
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


# -- signed checkpoints and a write-once anchor -------------------------------------------------------

ANCHOR = "typedflow-lineage-anchor"


@pytest.fixture
def anchor_bucket(s3) -> str:
    s3.create_bucket(Bucket=ANCHOR, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=ANCHOR,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    return f"s3://{ANCHOR}/audit"


def _signer(keypair) -> Ed25519Signer:
    from typedflow.lineage.signing import load_key_file

    return load_key_file(keypair.key)


def test_signed_records_pull_only_with_a_checkpoint_of_the_trusted_key(
    s3, make_record, keypair, other_keypair, tmp_path
) -> None:
    from typedflow.lineage.verify_bundle import PublicKey

    run_id = "cd" * 16
    records = _task_records(make_record, run_id)
    signer = _signer(keypair)
    for rec in records[:3]:
        put = put_s3(rec, BUCKET, "p", client=s3, signer=signer)
        assert put.checkpoint == put.uri.replace(f"/{run_id}/", f"/{run_id}/checkpoints/")
    put_s3(records[3], BUCKET, "p", client=s3, signer=None)  # written by a worker without the key
    assert len(list(iter_s3(BUCKET, "p", run_id=run_id, client=s3))) == 4  # records only, unless asked
    objects = list(iter_s3(BUCKET, "p", run_id=run_id, client=s3, checkpoints=True))
    assert len(objects) == 7
    with LineageLog(tmp_path / "log.jsonl", signer=None) as log:
        result = pull(objects, log, key=PublicKey(keypair.public))
    assert (result.appended, result.verified) == (3, 3)
    assert [reason for _, reason in result.rejected] == ["no checkpoint signed with the trusted key next to it"]
    with LineageLog(tmp_path / "other.jsonl", signer=None) as log:
        other = pull(objects, log, key=PublicKey(other_keypair.public))
    assert other.appended == 0 and len(other.rejected) == 4
    # a checkpoint for one record does not vouch for another
    objs = {o.uri: o for o in objects}
    cps = [o for o in objects if "/checkpoints/" in o.uri]
    moved = CloudObject(cps[0].uri.rsplit("/", 1)[0] + "/" + "0" * 64 + ".json", cps[0].body)
    with LineageLog(tmp_path / "moved.jsonl", signer=None) as log:
        res = pull(
            [*(o for u, o in objs.items() if "/checkpoints/" not in u), moved], log, key=PublicKey(keypair.public)
        )
    assert res.appended == 0 and ("checkpoint key does not name the record it signs" in dict(res.rejected).values())


def test_anchor_must_have_object_lock(s3, anchor_bucket) -> None:
    from typedflow.lineage.cloud import check_s3_anchor

    assert check_s3_anchor(anchor_bucket, client=s3) == ""
    assert "Object Lock" in check_s3_anchor(f"s3://{BUCKET}/x", client=s3)
    assert "expected s3://" in check_s3_anchor("gs://b/x", client=s3)


def test_object_lock_anchor_catches_a_deleted_record(s3, anchor_bucket, make_record, keypair, tmp_path) -> None:
    from typedflow.lineage.cloud import iter_location
    from typedflow.lineage.verify_bundle import PublicKey

    run_id = "ef" * 16
    records = _task_records(make_record, run_id)
    signer = _signer(keypair)
    puts = [put_s3(rec, BUCKET, "p", client=s3, signer=signer, anchor=anchor_bucket) for rec in records]
    assert all(p.anchored and p.anchored.startswith(f"{anchor_bucket}/lineage/{run_id}/checkpoints/") for p in puts)
    # the anchored checkpoint cannot be deleted or overwritten in place: Object Lock, compliance mode
    assert puts[0].anchored is not None and puts[1].anchored is not None
    key = puts[0].anchored.split("/", 3)[3]
    version = s3.list_object_versions(Bucket=ANCHOR, Prefix=key)["Versions"][0]["VersionId"]
    with pytest.raises(Exception, match="AccessDenied"):
        s3.delete_object(Bucket=ANCHOR, Key=key, VersionId=version)
    trusted = PublicKey(keypair.public)

    def pulled(log_name: str) -> Any:
        objects = list(iter_s3(BUCKET, "p", run_id=run_id, client=s3, checkpoints=True))
        anchored = list(iter_location(anchor_bucket, run_id=run_id, client=s3, versions=True, checkpoints=True))
        assert all(o.locked_until for o in anchored)
        with LineageLog(tmp_path / log_name, signer=None) as log:
            return pull(objects, log, key=trusted, anchor=anchored)

    first = pulled("a.jsonl")
    assert (first.appended, first.verified, first.rejected, first.missing) == (4, 4, (), ())
    # someone with write access to the run's bucket deletes a record: the anchor still names it
    s3.delete_object(Bucket=BUCKET, Key=puts[1].uri.split("/", 3)[3])
    second = pulled("b.jsonl")
    assert second.appended == 3
    assert [(uri, reason) for uri, reason in second.missing] == [
        (puts[1].anchored, "the anchored record is missing from the run's objects")
    ]
    # a delete on the anchor only hides the locked version behind a marker: it is still read
    s3.delete_object(Bucket=ANCHOR, Key=puts[1].anchored.split("/", 3)[3])
    assert pulled("c.jsonl").missing == second.missing


def test_anchor_without_retention_is_reported(s3, make_record, keypair, tmp_path) -> None:
    from typedflow.lineage.cloud import iter_location
    from typedflow.lineage.verify_bundle import PublicKey

    s3.create_bucket(Bucket="plain-anchor")
    run_id = "ab" * 16
    rec = _task_records(make_record, run_id)[1]
    put_s3(rec, BUCKET, "p", client=s3, signer=_signer(keypair), anchor="s3://plain-anchor/a")
    objects = list(iter_s3(BUCKET, "p", run_id=run_id, client=s3, checkpoints=True))
    anchored = list(iter_location("s3://plain-anchor/a", run_id=run_id, client=s3, versions=True, checkpoints=True))
    with LineageLog(tmp_path / "log.jsonl", signer=None) as log:
        result = pull(objects, log, key=PublicKey(keypair.public), anchor=anchored)
    assert [reason for _, reason in result.missing] == ["checkpoint in the anchor is not under Object Lock retention"]
    assert result.appended == 0  # no checkpoint it can trust


def test_pull_command_with_key_and_anchor(s3, anchor_bucket, make_record, keypair, tmp_path, capsys) -> None:
    from typedflow.cli import main

    run_id = "12" * 16
    for rec in _task_records(make_record, run_id):
        put_s3(rec, BUCKET, "p", client=s3, signer=_signer(keypair), anchor=anchor_bucket)
    log = tmp_path / "log.jsonl"
    argv = ["lineage", "pull", run_id, "--target", "stepfunctions", "--from", f"s3://{BUCKET}/p", "--log", str(log)]
    rc = main([*argv, "--public-key", str(keypair.pub), "--anchor", anchor_bucket])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (
        f"4 appended, 0 already present, 0 rejected, 0 anchor problem(s); 4 verified with key {keypair.key_id[:16]}"
        in out
    )
    rc = main([*argv, "--public-key", str(tmp_path / "missing.pub")])
    assert rc == 2 and "--public-key" in capsys.readouterr().err


def test_directory_records_are_signed_with_the_configured_key(tmp_path, keypair, monkeypatch) -> None:
    from typedflow.lineage.cloud import iter_dir, put_dir
    from typedflow.lineage.record import new_record
    from typedflow.lineage.verify_bundle import PublicKey

    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", str(keypair.key))
    rec = new_record(
        "task",
        run_id="job-9",
        workflow="wf",
        ir_digest="sha256:" + "0" * 64,
        target="vertex",
        executor="vertex-container",
        status="succeeded",
        node_id="n",
        task="t",
    )
    put = put_dir(rec, tmp_path / "root", anchor=str(tmp_path / "anchor"))
    assert put.checkpoint is not None and Path(put.checkpoint).exists()
    assert put.anchored is not None and Path(put.anchored).read_bytes() == Path(put.checkpoint).read_bytes()
    with LineageLog(tmp_path / "log.jsonl", signer=None) as log:
        result = pull(
            list(iter_dir(tmp_path / "root", run_id="job-9", checkpoints=True)),
            log,
            key=PublicKey(keypair.public),
            anchor=list(iter_dir(tmp_path / "anchor", run_id="job-9", checkpoints=True)),
            anchor_retention=False,
        )
    assert (result.appended, result.verified, result.missing) == (1, 1, ())


def test_gcs_checkpoints_go_next_to_the_record_and_to_the_anchor(make_record, keypair) -> None:
    gcs = _FakeGCS()  # create-only semantics only; retention is the bucket's (docs/lineage.md)
    rec = make_record()
    put = put_gcs(rec, "bkt", "p", client=gcs, signer=_signer(keypair), anchor="gs://worm/audit")
    key = object_for(rec, "gs", "bkt", "p")[0]
    cp = key.rsplit("/", 1)[0] + "/checkpoints/" + key.rsplit("/", 1)[1]
    assert put.checkpoint == f"gs://bkt/{cp}"
    assert put.anchored == f"gs://worm/audit/lineage/{rec.run_id}/checkpoints/{put.record_hash}.json"
    assert set(gcs.store) == {key, cp, put.anchored.removeprefix("gs://worm/")}


def test_a_key_that_cannot_be_loaded_still_leaves_the_record(s3, make_record, tmp_path) -> None:
    from typedflow.lineage.signing import SigningError

    rec = make_record()
    with pytest.raises(SigningError):
        put_s3(rec, BUCKET, "p", client=s3, signer=str(tmp_path / "missing.key"))
    key = object_for(rec, "s3", BUCKET, "p")[0]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == object_for(rec, "s3", BUCKET, "p")[1]
