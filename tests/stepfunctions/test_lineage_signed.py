"""A state machine deployed with --lineage-key (AWS KMS) and --lineage-anchor (S3 Object Lock), run on
moto: every task record is signed by KMS and anchored write-once, and ``lineage pull`` checks both."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from typedflow.backends.stepfunctions.options import OptionError

from tests.stepfunctions.conftest import Aws
from typedflow import task, workflow
from typedflow.lineage.cloud import iter_location
from typedflow.lineage.record import record_from_dict
from typedflow.lineage.signing import AwsKmsSigner


@task
def inc(x: int) -> int:
    return x + 1


@task
def both(a: int, b: int) -> int:
    return a * b


@workflow
def signed_flow(x: int) -> int:
    return both(a=inc(x=x), b=inc(x=inc(x=x)))


ANCHOR = "typedflow-anchor-signed"


def test_kms_signed_and_object_locked_lineage(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from typedflow.cli import main

    kms = boto3.client("kms")
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    pub = tmp_path / "kms.pub"
    pub.write_bytes(AwsKmsSigner(arn, kms).public_key_pem())
    anchor = f"s3://{ANCHOR}/audit"

    # a bucket without Object Lock is refused at deploy time
    aws.s3.create_bucket(Bucket=ANCHOR + "-plain")
    with pytest.raises(OptionError, match="no Object Lock configuration"):
        aws.deploy(signed_flow.ir, aws.options(lineage_key=f"awskms:{arn}", lineage_anchor=f"s3://{ANCHOR}-plain/a"))

    aws.s3.create_bucket(Bucket=ANCHOR, ObjectLockEnabledForBucket=True)
    aws.s3.put_object_lock_configuration(
        Bucket=ANCHOR,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    # its own store (the records of other tests' runs share the session's) and a worker of its own, configured
    # to sign and anchor: a request never chooses the key or where checkpoints go
    queue = aws.sqs.create_queue(QueueName="typedflow-signed")["QueueUrl"]
    opts = attrs.evolve(
        aws.options(lineage_key=f"awskms:{arn}", lineage_anchor=anchor), bucket=f"{aws.bucket}-signed", queue_url=queue
    )
    definition = json.dumps(aws.compile(signed_flow.ir, opts), sort_keys=True)
    assert "lineage" not in json.dumps(aws.compile(signed_flow.ir, attrs.evolve(opts, executor="sqs")))
    assert "awskms" not in definition
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_KEY", f"awskms:{arn}")
    monkeypatch.setenv("TYPEDFLOW_LINEAGE_ANCHOR", anchor)
    from typedflow.backends.stepfunctions.worker import Worker

    worker = Worker(queue, bucket=opts.bucket, sqs=aws.sqs, sfn=aws.sfn, s3=aws.s3, wait_seconds=0, idle_sleep=0.01)
    thread = worker.start()
    try:
        remote = aws.run(signed_flow.ir, {"x": 4}, opts)
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert remote.status == "SUCCEEDED" and remote.outputs == {"out": 30}

    store = f"{aws.bucket}-signed"
    run_ids = {record_from_dict(json.loads(o.body)).run_id for o in iter_location(store, client=aws.s3)}
    run_id = next(r for r in run_ids if remote.arn.endswith(r))
    anchored = list(iter_location(anchor, run_id=run_id, client=aws.s3, versions=True, checkpoints=True))
    assert len(anchored) == 4 and all(o.locked_until for o in anchored)

    log = tmp_path / "log.jsonl"
    argv = ["lineage", "pull", run_id, "--target", "stepfunctions", "--from", store, "--log", str(log)]
    rc = main([*argv, "--public-key", str(pub), "--anchor", anchor])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "4 appended, 0 already present, 0 rejected, 0 anchor problem(s); 4 verified with key" in out

    # a record removed from the run's bucket is missed by the anchor
    objects = list(iter_location(store, run_id=run_id, client=aws.s3))
    bucket, _, key = objects[0].uri.removeprefix("s3://").partition("/")
    aws.s3.delete_object(Bucket=bucket, Key=key)
    rc = main([*argv[:-1], str(tmp_path / "again.jsonl"), "--public-key", str(pub), "--anchor", anchor])
    captured = capsys.readouterr()
    assert rc == 1
    assert "the anchored record is missing from the run's objects" in captured.err
