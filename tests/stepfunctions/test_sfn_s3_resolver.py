"""A process that uses two S3 stores (a worker serving two buckets; a test session with moto and LocalStack) reads
each file handle from the store it lies in, whichever store was opened last; a handle in no open store is
refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typedflow.backends.stepfunctions.s3store import S3Store

from tests.stepfunctions.conftest import Aws
from typedflow.files import resolve_uri
from typedflow.util.boundary import BoundaryError


def test_each_handle_is_read_from_its_own_store(aws: Aws, tmp_path: Path) -> None:
    for b in ("tf-resolver-a", "tf-resolver-b"):
        aws.s3.create_bucket(Bucket=b)
    first = S3Store("s3://tf-resolver-a/p", aws.s3, cache_dir=tmp_path / "ca")
    (tmp_path / "a.txt").write_text("in a")
    uri_a, sha_a = first.put_file(tmp_path / "a.txt")
    second = S3Store("s3://tf-resolver-b/p", aws.s3, cache_dir=tmp_path / "cb")  # opened last
    (tmp_path / "b.txt").write_text("in b")
    uri_b, sha_b = second.put_file(tmp_path / "b.txt")
    assert resolve_uri(uri_a, sha_a, False).read_text() == "in a"
    assert resolve_uri(uri_b, sha_b, False).read_text() == "in b"
    with pytest.raises(BoundaryError, match="does not name stored content of the store s3://tf-resolver-b/p"):
        resolve_uri("s3://elsewhere/p/objects/ab/" + "ab" * 32, "ab" * 32, False)
