"""Which node's Failure a caught error stands for (:mod:`typedflow.backends.stepfunctions.failures`): the cause of a
task's failure names its node; a handler and the reported failure read that node's kept Failure."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typedflow.backends.stepfunctions.compiler import compile_definition
from typedflow.backends.stepfunctions.failures import batch_job, caught_failure, failed_node, naming
from typedflow.backends.stepfunctions.options import from_mapping
from typedflow.backends.stepfunctions.protocol import CAUSE_LIMIT
from typedflow.backends.stepfunctions.request import NODE_KEY
from typedflow.backends.stepfunctions.runtime import store_for

from tests.support import handler_failure_flows as flows
from tests.support import item_handler_flows as item_flows
from tests.support.aws import AslValidator, Aws

_KEYS = st.from_regex(r"[A-Za-z0-9_.\-\[\]/]{1,60}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(cause=st.text(max_size=300), node=_KEYS, inner=_KEYS)
def test_the_cause_names_its_node(cause: str, node: str, inner: str) -> None:
    named = naming(cause, node)
    assert failed_node(named) == node and named.startswith(cause)
    # a cause quoting another failure's (a map's tolerance error quotes an item's) names its own node last
    assert failed_node(naming(naming(cause, inner) + "\nafter", node)) == node


@settings(max_examples=60, deadline=None)
@given(message=st.text(max_size=200).filter(lambda m: failed_node(m) is None), node=_KEYS)
@example(message="refused\n\n", node="map[1]/fail")
def test_a_fail_s_message_comes_back_as_it_was(aws: Aws, message: str, node: str) -> None:
    """fail(message)'s Failure has the message as given (trailing newlines and blanks too), naming the node."""
    store = store_for(aws.bucket, aws.s3)
    made = caught_failure(store, "w", "r-fail", "typedflow.Fail", naming(message, node))
    assert (made["node"], made["message"], made["traceback"]) == (node, message, "")


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
    # fail(...): its cause names its node, which keeps no Failure: made of the error, naming the node
    made = caught_failure(store, "w", run, "typedflow.Fail", naming("x is too big", "map[2]/fail"))
    assert made == {
        "workflow": "w",
        "run_id": run,
        "node": "map[2]/fail",
        "error_type": "typedflow.Fail",
        "message": "x is too big",
        "traceback": "",
    }
    # a Batch job's description naming no node stands for the run's first recorded failure
    assert caught_failure(store, "w", run, "States.TaskFailed", '{"JobName": "odd"}') == first
    empty = f"r-{uuid.uuid4().hex[:8]}"
    assert caught_failure(store, "w", empty, "States.TaskFailed", "job")["error_type"] == "States.TaskFailed"


# ----------------------------------------------------------------------------- a failed Batch job
# test_sfn_batch_failures.py runs failed jobs on moto, whose descriptions carry no status reason or exit code; here
# the cause Step Functions gives the Catch is AWS's: the job's description as `batch:DescribeJobs` returns it, with
# Step Functions' capitalised keys (a container job that exited non-zero), with the environment the compiler gives
# the job.


def _description(env: list[dict[str, str]], *, exit_code: int | None = 1, reason: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "ContainerInstanceArn": "arn:aws:ecs:us-west-2:123456789012:container-instance/cebc97a6",
        "LogStreamName": "typedflow/default/7c7cd09e",
        "NetworkInterfaces": [],
        "TaskArn": "arn:aws:ecs:us-west-2:123456789012:task/7c7cd09e",
    }
    if exit_code is not None:
        container["ExitCode"] = exit_code
    if reason is not None:
        container["Reason"] = reason
    return {
        "Attempts": [
            {
                "Container": container,
                "StartedAt": 1591403928719,
                "StatusReason": "Essential container in task exited",
                "StoppedAt": 1591403929450,
            }
        ],
        "Container": {
            "Command": ["python", "-m", "typedflow.runtime", "stepfunctions", "run-task"],
            "Environment": env,
            "Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/typedflow:latest",
            "LogStreamName": "typedflow/default/7c7cd09e",
            "MountPoints": [],
            "NetworkInterfaces": [],
            "ResourceRequirements": [{"Type": "VCPU", "Value": "1"}],
            "Ulimits": [],
            "Volumes": [],
            **({} if exit_code is None else {"ExitCode": exit_code}),
            **({} if reason is None else {"Reason": reason}),
        },
        "CreatedAt": 1591403386307,
        "DependsOn": [],
        "JobDefinition": "arn:aws:batch:us-west-2:123456789012:job-definition/typedflow:2",
        "JobId": "5ce9a71e-2f18-4dd1-b9ac-9d3618774d3f",
        "JobName": "odd_only",
        "JobQueue": "arn:aws:batch:us-west-2:123456789012:job-queue/gpu",
        "Parameters": {},
        "RetryStrategy": {"Attempts": 1},
        "StartedAt": 1591403928719,
        "Status": "FAILED",
        "StatusReason": "Essential container in task exited",
        "StoppedAt": 1591403929450,
        "Timeout": {"AttemptDurationSeconds": 600},
    }


def _env(node: str) -> list[dict[str, str]]:
    request = {"v": 1, "task": "odd_only", "run": "r", "node": node, "args": {"x": 2}}
    return [
        {"Name": "TYPEDFLOW_RESULT_URI", "Value": f"s3://b/tf/results/r/{node}.json"},
        {"Name": "MANAGED_BY_AWS", "Value": "STARTED_BY_STEP_FUNCTIONS"},
        {"Name": "TYPEDFLOW_NODE", "Value": node},
        {"Name": "TYPEDFLOW_REQUEST", "Value": json.dumps(request, separators=(",", ":"))},
        {"Name": "TYPEDFLOW_ATTEMPT", "Value": "1"},
    ]


def _cause(description: Any) -> str:
    return json.dumps(description, separators=(",", ":"), sort_keys=True)


def test_a_failed_batch_job_stands_for_its_own_node(aws: Aws) -> None:
    """The handler of a failed Batch job gets that job's node's kept Failure, not the run's first; a job that died
    before its runtime kept one (killed for memory) gets a Failure of its own status, naming its node."""
    store = store_for(aws.bucket, aws.s3)
    run = f"r-{uuid.uuid4().hex[:8]}"
    first, own = _failure("early", "ValueError", "early 1"), _failure("map[3]/odd", "KeyError", "'odd 3'")
    store.put_first_failure(run, first)
    store.put_node_failure(run, "early", first)
    store.put_node_failure(run, "map[3]/odd", own)
    failed = _cause(_description(_env("map[3]/odd")))
    assert caught_failure(store, "w", run, "States.TaskFailed", failed) == own
    killed = _cause(_description(_env("map[4]/odd"), exit_code=137, reason="OutOfMemoryError: Container killed"))
    assert caught_failure(store, "w", run, "States.TaskFailed", killed) == {
        "workflow": "w",
        "run_id": run,
        "node": "map[4]/odd",
        "error_type": "States.TaskFailed",
        "message": "Essential container in task exited (OutOfMemoryError: Container killed; exit code 137)",
        "traceback": "",
    }
    # a description without the node's entry (a definition compiled before it): the node of its request
    older = [e for e in _env("map[3]/odd") if e["Name"] != "TYPEDFLOW_NODE"]
    assert caught_failure(store, "w", run, "States.TaskFailed", _cause(_description(older))) == own
    # no node to be found: the run's first recorded failure, as before
    assert caught_failure(store, "w", run, "States.TaskFailed", _cause(_description([]))) == first


_ENV_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,30}", fullmatch=True).filter(lambda n: not n.startswith("TYPEDFLOW"))
_OTHER_ENV = st.lists(st.fixed_dictionaries({"Name": _ENV_NAMES, "Value": st.text(max_size=40)}), max_size=6)
_REASONS = st.one_of(st.none(), st.text(min_size=1, max_size=80))


@settings(max_examples=150, deadline=None)
@given(
    node=_KEYS, others=_OTHER_ENV, at=st.integers(0, 6), code=st.one_of(st.none(), st.integers(0, 255)), why=_REASONS
)
def test_the_job_description_names_its_node(
    node: str, others: list[dict[str, str]], at: int, code: int | None, why: str | None
) -> None:
    """Wherever the compiler's entry sits among the job's environment, the description names its node; its status
    reason, the container's reason and exit code make the message."""
    env = [*others[:at], {"Name": "TYPEDFLOW_NODE", "Value": node}, *others[at:]]
    job = batch_job(_cause(_description(env, exit_code=code, reason=why)))
    assert job is not None and job.node == node
    assert job.reason.startswith("Essential container in task exited")
    assert (why or "") in job.reason and (code is None or f"exit code {code}" in job.reason)


@settings(max_examples=150, deadline=None)
@given(node=_KEYS, cut=st.integers(0, 4000))
def test_a_cut_description_names_its_node_or_none(node: str, cut: int) -> None:
    """A description cut short (not JSON any more) still names its node when the entry is whole, else none."""
    cause = _cause(_description(_env(node)))[:cut]
    job = batch_job(cause)
    entry = json.dumps({"Name": "TYPEDFLOW_NODE", "Value": node}, separators=(",", ":"))
    if entry in cause:
        assert job is not None and job.node == node
    else:
        assert job is None or job.node == node  # (its request, whole before the cut, names it too)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_SHAPES = st.one_of(
    _JSON,
    st.fixed_dictionaries({"Container": _JSON, "Attempts": _JSON, "StatusReason": _JSON}),
    st.fixed_dictionaries(
        {
            "Container": st.fixed_dictionaries(
                {"Environment": st.lists(st.dictionaries(st.sampled_from(["Name", "Value"]), _JSON), max_size=4)}
            ),
            "Attempts": st.lists(st.dictionaries(st.sampled_from(["Container", "StatusReason"]), _JSON), max_size=2),
        }
    ),
)


@settings(max_examples=300, deadline=None)
@given(shape=_SHAPES, text=st.text(max_size=200))
def test_any_cause_is_read_safely(shape: Any, text: str) -> None:
    """A cause is a cloud payload: any JSON shape, any text, gives a node key of the expected form or none, and
    never an exception."""
    for cause in (_cause(shape), text, '{"Container":{"Environment":[{"Name":"TYPEDFLOW_NODE","Value":' + text):
        job = batch_job(cause)
        assert job is None or NODE_KEY.fullmatch(job.node)


def test_a_node_entry_of_the_wrong_form_names_no_node() -> None:
    for value in ("map[1] odd", 'a"b', "map[1]/odd\n", "", "x" * 2000, 7, None, ["map[1]/odd"]):
        env = [{"Name": "TYPEDFLOW_NODE", "Value": value}]
        assert batch_job(_cause(_description(env))) is None  # type: ignore[arg-type]
    assert batch_job(_cause({"Container": {"Environment": "TYPEDFLOW_NODE=odd"}})) is None
    assert batch_job("[" * 100_000) is None  # nested too deep for the parser
    # an older definition's job: the node of its request; a Distributed Map's own step names none
    for request in ('{"node": "a b"}', '{"node": 3}', "[1]", "{", '{"op": "map-results", "node": "map"}'):
        assert batch_job(_cause(_description([{"Name": "TYPEDFLOW_REQUEST", "Value": request}]))) is None


@settings(max_examples=40, deadline=None)
@given(shape=_SHAPES)
def test_a_handler_gets_a_failure_whatever_the_cause(aws: Aws, shape: Any) -> None:
    store = store_for(aws.bucket, aws.s3)
    made = caught_failure(store, "w", "r-none", "States.TaskFailed", _cause(shape))
    assert set(made) == {"workflow", "run_id", "node", "error_type", "message", "traceback"}
    assert all(isinstance(v, str) for v in made.values())


def _states(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, state in graph["States"].items():
        out[name] = state
        for inner in [*state.get("Branches", []), *([state["ItemProcessor"]] if "ItemProcessor" in state else [])]:
            out.update(_states(inner))
    return out


@pytest.mark.parametrize("wf", [flows.tolerated_then_failing, item_flows.nested_items], ids=lambda w: w.name)
def test_every_batch_job_names_the_node_its_request_runs(asl: AslValidator, wf: Any) -> None:
    """Each Batch job's ``TYPEDFLOW_NODE`` is its request's node (the key its runtime keeps the node's Failure
    under; inside maps the same States.Format of the item indices); a Distributed Map's own steps name none."""
    opts = from_mapping(
        {
            "executor": "batch",
            "bucket": "s3://b/tf",
            "batch_job_queue": "q",
            "batch_job_definition": "jd",
            "map_size": 10,
        }
    )
    definition = compile_definition(wf.ir, opts)
    asl.check(definition)
    states = _states(definition)
    jobs = 0
    for stage in states.values():
        request = stage.get("Parameters", {}).get("request")
        if stage["Type"] != "Pass" or request is None:
            continue
        job = states[stage["Next"]]
        assert job["Resource"] == "arn:aws:states:::batch:submitJob.sync"
        named = [e for e in job["Parameters"]["ContainerOverrides"]["Environment"] if e["Name"] == "TYPEDFLOW_NODE"]
        if "op" in request:
            assert named == []
            continue
        jobs += 1
        if "node.$" in request:
            assert named == [{"Name": "TYPEDFLOW_NODE", "Value.$": request["node.$"]}]
            assert "States.Format(" in request["node.$"]
        else:
            assert named == [{"Name": "TYPEDFLOW_NODE", "Value": request["node"]}]
    assert jobs >= 3
