"""The Distributed Map results step counts each item once: a caught failure and a result for one item are two
results, and an item that succeeded is never the failure the step reports."""

from __future__ import annotations

from tests.stepfunctions.conftest import Aws
from tests.stepfunctions.test_sfn_mapio import _child, _results, _run, _write_run

MARKER = "__tf_failed__"


def _caught(i: int) -> dict[str, object]:
    return {MARKER: {"Error": "KeyError", "Cause": f"item {i} fails"}}


def test_a_caught_failure_and_a_result_of_one_item_are_two_results(aws: Aws) -> None:
    for children in (
        [_child(0, "SUCCEEDED", 0), _child(1, "SUCCEEDED", _caught(1)), _child(1, "SUCCEEDED", 1)],
        [_child(0, "SUCCEEDED", 0), _child(1, "SUCCEEDED", 1), _child(1, "SUCCEEDED", _caught(1))],
        [_child(0, "SUCCEEDED", 0), _child(1, "SUCCEEDED", _caught(1)), _child(1, "SUCCEEDED", _caught(1))],
    ):
        r = _run(aws, _results(_write_run(aws, {"SUCCEEDED": children}), 2, caught=MARKER, share=1.0))
        assert not r.ok and r.error == "typedflow.RequestError", r.outputs
        assert "item 1 has two results" in r.cause


def test_an_item_that_succeeded_is_not_the_failure_reported(aws: Aws) -> None:
    # item 0 failed once and succeeded on a redrive; item 2 failed: the map fails with item 2's error
    files = {
        "SUCCEEDED": [_child(0, "SUCCEEDED", 0), _child(1, "SUCCEEDED", 1)],
        "FAILED": [_child(0, "FAILED"), _child(2, "FAILED")],
    }
    details = _write_run(aws, files)
    r = _run(aws, _results(details, 3))
    assert not r.ok and (r.error, r.cause) == ("ValueError", "item 2 fails")
    tolerant = _run(aws, _results(details, 3, share=0.34))
    assert tolerant.ok and tolerant.outputs == {"out": [0, 1, None]}
