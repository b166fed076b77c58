"""Typed tables on Step Functions: the worker runs tasks through the shared runtime, which checks
each table a task returns or receives; a violation fails the execution with the schema error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stepfunctions.conftest import Aws, run_local
from tests.tables import flows

pytest.importorskip("pyarrow")


def test_valid_tables_equal_local(aws: Aws, tmp_path: Path) -> None:
    local = run_local(flows.churn, {"n": 12}, tmp_path)
    remote = aws.run(flows.churn.ir, {"n": 12})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs == {"out": 25.5}


@pytest.mark.parametrize(
    ("wf", "message"),
    [
        (flows.churn, 'output "out" (TypedFile[Parquet[Raw]]'),
        (flows.untyped_source, 'input "data" (TypedFile[Parquet[Features]]'),
    ],
)
def test_a_violation_fails_the_execution(aws: Aws, wf: object, message: str) -> None:
    remote = aws.run(wf.ir, {"n": 12, "corrupt": "age_type"})  # type: ignore[attr-defined]
    assert remote.status == "FAILED"
    assert remote.error == "typedflow.tables.SchemaError"
    # The failed task's lineage record (an object in the run's bucket) has the whole message.
    bucket = aws.bucket.removeprefix("s3://").partition("/")[0]
    errors = []
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            if "lineage" in obj["Key"] and obj["Key"].endswith(".json"):
                rec = json.loads(aws.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
                if rec.get("status") == "failed" and rec.get("error"):
                    errors.append(rec["error"])
    assert any(message in e and 'column "age": expected float, got string' in e for e in errors), errors
