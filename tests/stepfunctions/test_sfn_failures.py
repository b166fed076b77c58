"""Which node's Failure a caught error stands for (:mod:`typedflow.backends.stepfunctions.failures`): the cause of a
task's failure names its node; a handler and the reported failure read that node's kept Failure."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from typedflow.backends.stepfunctions.failures import caught_failure, failed_node, naming
from typedflow.backends.stepfunctions.protocol import CAUSE_LIMIT
from typedflow.backends.stepfunctions.runtime import store_for

from tests.support.aws import Aws

_KEYS = st.from_regex(r"[A-Za-z0-9_.\-\[\]/]{1,60}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(cause=st.text(max_size=300), node=_KEYS, inner=_KEYS)
def test_the_cause_names_its_node(cause: str, node: str, inner: str) -> None:
    named = naming(cause, node)
    assert failed_node(named) == node and named.startswith(cause)
    # a cause quoting another failure's (a map's tolerance error quotes an item's) names its own node last
    assert failed_node(naming(naming(cause, inner) + "\nafter", node)) == node


def test_a_long_cause_is_cut_but_still_names_its_node() -> None:
    named = naming("x" * (2 * CAUSE_LIMIT), "map[12]/train")
    assert len(named) == CAUSE_LIMIT and failed_node(named) == "map[12]/train"
    assert failed_node("no node here") is None and naming("plain", "") == "plain"


def _failure(node: str, error: str, message: str) -> dict[str, Any]:
    return {"workflow": "w", "run_id": "r", "node": node, "error_type": error, "message": message, "traceback": "tb"}


def test_the_failure_a_caught_error_stands_for(aws: Aws) -> None:
    store = store_for(aws.bucket, aws.s3)
    run = f"r-{uuid.uuid4().hex[:8]}"
    first, later = _failure("map[1]/odd", "ValueError", "even 2"), _failure("explode", "KeyError", "'boom'")
    store.put_first_failure(run, first)
    store.put_node_failure(run, "map[1]/odd", first)
    store.put_node_failure(run, "explode", later)
    assert caught_failure(store, "w", run, "KeyError", naming("'boom'\ntb", "explode")) == later
    # named but not kept (the worker could not write it): made of the error, naming the node
    made = caught_failure(store, "w", run, "KeyError", naming("'gone'", "lost"))
    assert (made["node"], made["error_type"], made["message"]) == ("lost", "KeyError", "'gone'")
    # raised by the definition itself: the error is the failure, never the run's first recorded one
    for error, cause in (("States.Timeout", "timed out"), ("typedflow.Fail", "x is too big")):
        made = caught_failure(store, "w", run, error, cause)
        assert (made["node"], made["error_type"], made["message"]) == ("", error, cause)
    # a Batch job's failure (its cause: the job's description) stands for the run's first recorded failure
    assert caught_failure(store, "w", run, "States.TaskFailed", '{"JobName": "odd"}') == first
    empty = f"r-{uuid.uuid4().hex[:8]}"
    assert caught_failure(store, "w", empty, "States.TaskFailed", "job")["error_type"] == "States.TaskFailed"
