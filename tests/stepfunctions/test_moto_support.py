"""The session's moto S3 behaves as S3 where the tests depend on it: an object overwritten or deleted while
another thread reads it gives that reader the old bytes (moto 5.2.5 would close them under it)."""

from __future__ import annotations

import threading

from tests.support.aws import Aws


def test_a_reader_of_an_overwritten_object_still_gets_its_bytes(aws: Aws) -> None:
    from moto.s3.models import s3_backends

    bucket = aws.bucket.split("/")[2]
    aws.s3.put_object(Bucket=bucket, Key="race/k", Body=b"old")
    backend = s3_backends["123456789012"]["aws"]
    old = backend.get_bucket(bucket).keys["race/k"]  # what a GetObject in flight holds
    aws.s3.put_object(Bucket=bucket, Key="race/k", Body=b"new")
    aws.s3.delete_object(Bucket=bucket, Key="race/k")
    assert old.value == b"old"


def test_concurrent_overwrites_and_reads_never_fail(aws: Aws) -> None:
    bucket = aws.bucket.split("/")[2]
    aws.s3.put_object(Bucket=bucket, Key="race/m", Body=b"y" * 1000)
    errors: list[BaseException] = []

    def write() -> None:
        for _ in range(300):
            aws.s3.put_object(Bucket=bucket, Key="race/m", Body=b"y" * 1000)

    def read() -> None:
        for _ in range(300):
            try:
                assert aws.s3.get_object(Bucket=bucket, Key="race/m")["Body"].read() == b"y" * 1000
            except BaseException as exc:  # every failure is reported below
                errors.append(exc)

    threads = [threading.Thread(target=f) for f in (write, write, read, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
