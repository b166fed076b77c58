"""The two worker steps of a Distributed Map (``typedflow.backends.stepfunctions.mapio``), run through the runtime's
own entry point against S3 (moto): the items written as the JSON array ``ItemReader`` reads; the results read back
from the files ``ResultWriter`` writes, in the layout AWS documents; and every malformed request, manifest or
result file refused with a message naming what is wrong."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from typedflow.backends.stepfunctions.mapio import INCOMPLETE_ERROR, is_map_request, parse_map_request
from typedflow.backends.stepfunctions.runtime import run_request

from tests.stepfunctions.conftest import Aws
from typedflow.runtime.tolerance import TOLERANCE_ERROR
from typedflow.util.boundary import BoundaryError

DIGEST = "sha256:" + "ab" * 32


def _items(items: Any, **kw: Any) -> dict[str, Any]:
    return {"v": 1, "op": "map-items", "ir": DIGEST, "run": "r1", "node": "map", "items": items, **kw}


def _results(details: Any, count: int, **kw: Any) -> dict[str, Any]:
    req = {"v": 1, "op": "map-results", "ir": DIGEST, "run": "r1", "node": "map", "manifest": details}
    return {**req, "count": count, "index": "x_map", "share": 0.0, **kw}


def _child(index: int, status: str, output: Any = None) -> dict[str, Any]:
    """A child execution as a result file lists it (the fields of AWS's SUCCEEDED_n.json / FAILED_n.json)."""
    name = str(uuid.uuid4())
    entry: dict[str, Any] = {
        "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:execution:wf/map:{name}",
        "Input": json.dumps({"i_map": index * 10, "x_map": index, "tf_run": "r1"}),
        "InputDetails": {"Included": True},
        "Name": name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": "2026-12-07T10:00:00.000Z",
        "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:wf/map",
        "Status": status,
        "StopDate": "2026-12-07T10:00:01.000Z",
    }
    if status == "SUCCEEDED":
        entry.update(Output=json.dumps(output), OutputDetails={"Included": True}, RedriveStatusReason="done")
    else:
        entry.update(Error="ValueError", Cause=f"item {index} fails")
    return entry


def _write_run(aws: Aws, files: dict[str, list[dict[str, Any]]], key_of: Any = None) -> dict[str, str]:
    """A map run's manifest and result files in the store; the ResultWriterDetails naming them."""
    bucket = aws.bucket.split("/")[2]
    run = f"tf/maps/{uuid.uuid4()}"
    listed: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, entries in files.items():
        key = key_of(status) if key_of else f"{run}/{status}_0.json"
        body = json.dumps(entries).encode()
        aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
        listed[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": "arn:aws:states:::mapRun:wf/map:1", "ResultFiles": listed}
    aws.s3.put_object(Bucket=bucket, Key=f"{run}/manifest.json", Body=json.dumps(manifest).encode())
    return {"Bucket": bucket, "Key": f"{run}/manifest.json"}


def _run(aws: Aws, req: dict[str, Any]) -> Any:
    return run_request(req, store_uri=aws.bucket, s3=aws.s3)


def test_items_are_written_as_a_json_array_and_large_ones_offloaded(aws: Aws) -> None:
    big = "x" * 100
    r = _run(aws, _items([1, {"a": big}, None], offload=50))
    assert r.ok and r.outputs is not None and r.outputs["n"] == 3
    key = r.outputs["Key"]
    assert key.startswith("tf/values/")
    staged = json.loads(aws.s3.get_object(Bucket=aws.bucket.split("/")[2], Key=key)["Body"].read())
    assert staged[0] == 1 and staged[2] is None
    assert staged[1]["__tf__"] == "ref"  # the large element travels to its child as a reference
    kept = _run(aws, _items([1, {"a": big}], offload=50, whole=True))  # a Choice reads the items: all inline
    assert kept.ok and kept.outputs is not None
    body = aws.s3.get_object(Bucket=aws.bucket.split("/")[2], Key=kept.outputs["Key"])["Body"].read()
    assert json.loads(body) == [1, {"a": big}]


def test_no_list_is_no_items_and_anything_else_is_refused(aws: Aws) -> None:
    r = _run(aws, _items(None))
    assert r.ok and r.outputs is not None and r.outputs["n"] == 0
    bad = _run(aws, _items({"a": 1}))
    assert not bad.ok and bad.error == "typedflow.RequestError" and "must be a list, got dict" in bad.cause


def test_results_come_back_in_item_order_whatever_the_files_order(aws: Aws) -> None:
    children = [_child(i, "SUCCEEDED", {"v": i * i}) for i in (3, 0, 2, 1)]
    details = _write_run(aws, {"SUCCEEDED": children})
    r = _run(aws, _results(details, 4))
    assert r.ok, r.cause
    assert r.outputs == {"out": [{"v": 0}, {"v": 1}, {"v": 4}, {"v": 9}]}


def test_failed_items_within_the_share_are_none_and_past_it_fail(aws: Aws) -> None:
    files = {
        "SUCCEEDED": [_child(i, "SUCCEEDED", i) for i in range(10) if i not in (3, 7)],
        "FAILED": [_child(3, "FAILED"), _child(7, "FAILED")],
    }
    details = _write_run(aws, files)
    ok = _run(aws, _results(details, 10, share=0.2))
    assert ok.ok and ok.outputs == {"out": [None if i in (3, 7) else i for i in range(10)]}
    over = _run(aws, _results(details, 10, share=0.19))
    assert not over.ok and over.error == TOLERANCE_ERROR
    assert over.cause.startswith("2 of the 10 items of map map failed, 1 tolerated; item 3: ValueError: item 3 fails")


def test_without_a_tolerance_the_first_failed_items_own_error_fails_the_step(aws: Aws) -> None:
    files = {
        "SUCCEEDED": [_child(i, "SUCCEEDED", i) for i in (0, 2)],
        "FAILED": [_child(3, "FAILED"), _child(1, "FAILED")],
    }
    r = _run(aws, _results(_write_run(aws, files), 4))
    assert not r.ok and (r.error, r.cause) == ("ValueError", "item 1 fails")


def test_items_that_caught_their_failure_count_as_failed_only_when_asked(aws: Aws) -> None:
    marker = {"__tf_failed__": {"Error": "KeyError", "Cause": "item 2 fails"}}
    files = {"SUCCEEDED": [_child(0, "SUCCEEDED", 0), _child(1, "SUCCEEDED", 1), _child(2, "SUCCEEDED", marker)]}
    details = _write_run(aws, files)
    caught = _run(aws, _results(details, 3, caught="__tf_failed__"))
    assert not caught.ok and (caught.error, caught.cause) == ("KeyError", "item 2 fails")
    tolerated = _run(aws, _results(details, 3, caught="__tf_failed__", share=0.5))
    assert tolerated.ok and tolerated.outputs == {"out": [0, 1, None]}
    # a map whose items do not catch: the same object is a result like any other
    plain = _run(aws, _results(details, 3))
    assert plain.ok and plain.outputs == {"out": [0, 1, marker]}
    bad = _run(aws, _results(details, 3, caught=7))
    assert not bad.ok and bad.error == "typedflow.RequestError" and "'caught' must be a string" in bad.cause


def test_a_manifest_that_lists_no_files_is_incomplete_not_nones(aws: Aws) -> None:
    # what LocalStack 2026.3.0 and moto 5.2.5 write as shipped: a manifest without result files
    details = _write_run(aws, {})
    r = _run(aws, _results(details, 3, share=1.0))
    assert not r.ok and r.error == INCOMPLETE_ERROR
    assert "cover 0 of its 3 items" in r.cause
    empty = _run(aws, _results(details, 0))
    assert empty.ok and empty.outputs == {"out": []}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"SUCCEEDED": [_child(0, "SUCCEEDED", 1), _child(0, "SUCCEEDED", 2)]}, "item 0 has two results"),
        ({"SUCCEEDED": [_child(5, "SUCCEEDED", 1)]}, "no item index 'x_map' from 0 to 1"),
        ({"SUCCEEDED": [{**_child(0, "SUCCEEDED", 1), "Input": "{"}]}, "its Input: not JSON"),
        ({"SUCCEEDED": [{k: v for k, v in _child(0, "SUCCEEDED", 1).items() if k != "Output"}]}, "no Output text"),
        ({"SUCCEEDED": {"not": "a list"}}, "not a list of child executions"),
    ],
)
def test_malformed_result_files_are_refused(aws: Aws, files: dict[str, Any], message: str) -> None:
    r = _run(aws, _results(_write_run(aws, files), 2))
    assert not r.ok and r.error == "typedflow.RequestError"
    assert message in r.cause


def test_results_outside_the_store_are_refused(aws: Aws) -> None:
    bucket = aws.bucket.split("/")[2]
    elsewhere = _write_run(aws, {"SUCCEEDED": [_child(0, "SUCCEEDED", 1)]}, key_of=lambda s: f"other/{s}.json")
    r = _run(aws, _results(elsewhere, 1))
    assert not r.ok and "outside the store" in r.cause
    r = _run(aws, _results({"Bucket": "another-bucket", "Key": "tf/m.json"}, 1))
    assert not r.ok and "not the store's" in r.cause
    r = _run(aws, _results({"Bucket": bucket, "Key": "tf/maps/none/manifest.json"}, 1))
    assert not r.ok and "no manifest at" in r.cause


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"op": "map-everything"}, "'op': 'map-everything' is not one of map-items, map-results"),
        ({"extra": 1}, "unexpected field 'extra' in a map-results request"),
        ({"share": 1.5}, "'share' must be a number from 0 to 1"),
        ({"count": -1}, "'count' must be an integer from 0"),
        ({"index": ""}, "'index' must name the item index"),
        ({"run": "a b"}, "'run': 'a b' is not an execution name"),
        ({"v": 2}, "request version 2"),
    ],
)
def test_malformed_requests_are_refused(aws: Aws, change: dict[str, Any], message: str) -> None:
    req = {**_results({"Bucket": "b", "Key": "k"}, 1), **change}
    assert is_map_request(req)
    with pytest.raises(BoundaryError, match=message.replace("(", r"\(")):
        parse_map_request(req)
    r = _run(aws, req)
    assert not r.ok and r.error == "typedflow.RequestError" and message in r.cause


def test_a_request_for_another_store_is_refused(aws: Aws) -> None:
    r = _run(aws, _items([1], store="s3://elsewhere/tf"))
    assert not r.ok and "names the store 's3://elsewhere/tf'" in r.cause
