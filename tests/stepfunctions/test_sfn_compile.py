"""Compilation: determinism, asl-validator on every executor, retry/timeout/resource mapping, limits."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from typedflow.backends.stepfunctions import BACKEND, compile_workflow, limits
from typedflow.backends.stepfunctions.compiler import compile_definition
from typedflow.backends.stepfunctions.cron import CronError, to_aws
from typedflow.backends.stepfunctions.graph import DefinitionError, Fragment, Graph, Names, validate
from typedflow.backends.stepfunctions.iam import state_machine_policy, worker_policy
from typedflow.backends.stepfunctions.options import OptionError, Options, from_mapping
from typedflow.backends.stepfunctions.states import Catcher, Retrier
from typedflow.backends.stepfunctions.states.task import TaskState

from tests.stepfunctions import sfn_flows as flows
from tests.stepfunctions.conftest import AslValidator
from typedflow import Workflow, ir
from typedflow.ir.codec import dumps, loads

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/typedflow-tasks"
ALL_FLOWS: list[Workflow[..., Any]] = [
    flows.chain,
    flows.diamond,
    flows.fan,
    flows.branch,
    flows.branch_both,
    flows.retried,
    flows.failing,
    flows.files,
    flows.big,
    flows.big_out,
    flows.outer,
    flows.nightly,
    flows.resourced,
    flows.nested,
]
EXECUTOR_OPTIONS: dict[str, dict[str, Any]] = {
    "sqs": {"queue_url": QUEUE},
    "lambda": {"lambda_function": "arn:aws:lambda:us-east-1:123456789012:function:typedflow-task"},
    "ecs": {
        "ecs_cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/ml",
        "ecs_task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/typedflow:3",
        "subnet": ["subnet-0abc"],
        "security_group": ["sg-0abc"],
    },
    "batch": {
        "batch_job_queue": "arn:aws:batch:us-east-1:123456789012:job-queue/gpu",
        "batch_job_definition": "arn:aws:batch:us-east-1:123456789012:job-definition/typedflow:1",
    },
}


def options(executor: str = "sqs", **extra: Any) -> dict[str, Any]:
    extra.setdefault("map_size", 10)
    return {"executor": executor, "bucket": "s3://typedflow-tests/tf", **EXECUTOR_OPTIONS[executor], **extra}


def states_of(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, nested graphs included, by name."""
    out: dict[str, dict[str, Any]] = {}

    def visit(graph: dict[str, Any]) -> None:
        for name, state in graph["States"].items():
            out[name] = state
            for b in state.get("Branches", []):
                visit(b)
            if "ItemProcessor" in state:
                visit(state["ItemProcessor"])

    visit(definition)
    return out


@pytest.mark.parametrize("wf", ALL_FLOWS, ids=lambda w: w.name)
@pytest.mark.parametrize("executor", sorted(EXECUTOR_OPTIONS))
def test_every_executor_validates(asl: AslValidator, wf: Any, executor: str) -> None:
    definition = compile_definition(wf.ir, from_mapping(options(executor)))
    asl.check(definition)


def test_mixed_executors_validate(asl: AslValidator) -> None:
    opts = options(
        "sqs", **EXECUTOR_OPTIONS["batch"], **EXECUTOR_OPTIONS["ecs"], task_executor=["train=batch", "inc=ecs"]
    )
    definition = compile_definition(flows.resourced.ir, from_mapping(opts))
    asl.check(definition)
    resources = sorted(s.get("Resource", "") for s in states_of(definition).values() if s["Type"] == "Task")
    assert "arn:aws:states:::batch:submitJob.sync" in resources
    assert "arn:aws:states:::ecs:runTask.waitForTaskToken" in resources


def test_deterministic_and_stable_across_ir_round_trip() -> None:
    for wf in ALL_FLOWS:
        a = compile_workflow(wf.ir, options())
        b = compile_workflow(loads(dumps(wf.ir)), options())
        assert a == b
        assert a == json.dumps(json.loads(a), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_backend_record() -> None:
    assert BACKEND.name == "stepfunctions"
    assert BACKEND.compile is compile_workflow
    assert BACKEND.deploy and BACKEND.start and BACKEND.worker


def test_retry_maps_attempts_to_retries() -> None:
    definition = compile_definition(flows.retried.ir, from_mapping(options()))
    state = states_of(definition)["flaky"]
    assert state["Retry"] == [
        {
            "BackoffRate": 1.0,
            "ErrorEquals": ["tests.stepfunctions.sfn_flows.Flaky"],
            "IntervalSeconds": 1,
            "JitterStrategy": "FULL",
            "MaxAttempts": 2,
            "MaxDelaySeconds": 60,
        }
    ]
    assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
    assert state["HeartbeatSeconds"] == 60


def test_timeout_and_resources() -> None:
    sqs = states_of(compile_definition(flows.resourced.ir, from_mapping(options())))["train"]
    assert sqs["TimeoutSeconds"] == 600 and sqs["HeartbeatSeconds"] == 60
    ecs_def = compile_definition(flows.resourced.ir, from_mapping(options("ecs")))
    # the container's start (placement, image pull, the stock image's install) counts from the state's entry
    assert states_of(ecs_def)["train"]["TimeoutSeconds"] == 600 + 600
    assert states_of(ecs_def)["train"]["HeartbeatSeconds"] == 60 + 600
    quick = compile_definition(flows.resourced.ir, from_mapping({**options("ecs"), "ecs_start_seconds": 0}))
    assert (states_of(quick)["train"]["TimeoutSeconds"], states_of(quick)["train"]["HeartbeatSeconds"]) == (600, 60)
    with pytest.raises(OptionError, match="--ecs-start-seconds"):
        from_mapping({**options("ecs"), "ecs_start_seconds": -1})
    ecs = states_of(ecs_def)["train"]["Parameters"]["Overrides"]
    assert ecs["Cpu"] == "2048" and ecs["Memory"] == "4096"
    assert ecs["EphemeralStorage"] == {"SizeInGiB": 30}
    assert ecs["ContainerOverrides"][0]["ResourceRequirements"] == [{"Type": "GPU", "Value": "1"}]
    assert ecs["ContainerOverrides"][0]["Command"][-2:] == ["stepfunctions", "run-task"]
    batch = states_of(compile_definition(flows.resourced.ir, from_mapping(options("batch"))))
    reqs = batch["train"]["Parameters"]["ContainerOverrides"]["ResourceRequirements"]
    assert reqs == [{"Type": "VCPU", "Value": "2"}, {"Type": "MEMORY", "Value": "4096"}, {"Type": "GPU", "Value": "1"}]
    assert batch["train (outputs)"]["Resource"] == "arn:aws:states:::aws-sdk:s3:getObject"


def test_map_and_choice_shapes() -> None:
    states = states_of(compile_definition(flows.fan.ir, from_mapping(options())))
    m = states["map"]
    assert m["Type"] == "Map" and m["MaxConcurrency"] == 4
    assert m["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert m["ItemSelector"]["i_map.$"] == "$$.Map.Item.Value"
    states = states_of(compile_definition(flows.branch_both.ir, from_mapping(options())))
    rule = states["when"]["Choices"][0]
    assert "And" in rule and any("NumericGreaterThanEquals" in r for r in rule["And"])


def test_choice_guards_references_into_branches() -> None:
    # `outer` compares nothing optional, but label_of reads `d`, which may be null: passed lazily
    text = compile_workflow(flows.outer.ir, options())
    assert '"__tf__": "sel"' in text


def test_independent_nodes_run_in_parallel() -> None:
    states = states_of(compile_definition(flows.diamond.ir, from_mapping(options())))
    parallels = [s for s in states.values() if s["Type"] == "Parallel"]
    assert len(parallels) == 1 and len(parallels[0]["Branches"]) == 2


def test_missing_executor_settings_are_clear_errors() -> None:
    # without --queue-url: the queue "typedflow-tasks" of the state machine's account and region
    assert '"QueueUrl.$": "States.Format(' in compile_workflow(flows.chain.ir, {})
    with pytest.raises(DefinitionError, match="--ecs-cluster"):
        compile_workflow(flows.chain.ir, {"executor": "ecs"})
    with pytest.raises(OptionError, match="TASK=KIND"):
        from_mapping({"task_executor": ["inc"]})
    with pytest.raises(OptionError, match="s3://"):
        from_mapping({"bucket": "my-bucket"})


def test_states_all_must_be_last() -> None:
    names = Names()
    g = Graph(names)
    bad = TaskState(
        "t",
        resource="arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        retry=[Retrier(("States.ALL",), 1, 2, 2.0), Retrier(("ValueError",), 1, 2, 2.0)],
        catch=[Catcher(("States.ALL",), "t", None), Catcher(("X",), "t", None)],
        end=True,
    )
    g.add(bad)
    problems = validate("t", g.states)
    assert any("Retry" in p for p in problems) and any("Catch" in p for p in problems)
    for s in states_of(compile_definition(flows.failing.ir, from_mapping(options()))).values():
        for key in ("Retry", "Catch"):
            entries = s.get(key, [])
            for i, e in enumerate(entries):
                if "States.ALL" in e["ErrorEquals"]:
                    assert i == len(entries) - 1 and e["ErrorEquals"] == ["States.ALL"]


def test_state_names_are_unique_and_short() -> None:
    names = Names()
    long = "x" * 200
    a, b = names.unique(long), names.unique(long)
    assert a != b and len(a) <= 80 and len(b) <= 80
    g = Graph(names)
    frag = g.add(TaskState(names.unique("a"), resource="r"))
    assert isinstance(frag, Fragment)


def test_definition_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "DEFINITION_LIMIT", 2000)
    with pytest.raises(DefinitionError, match="bytes; Step Functions accepts at most"):
        compile_workflow(flows.fan.ir, options())


def test_history_estimate_warns() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compile_workflow(flows.fan.ir, options(map_size=5000))
        compile_workflow(flows.fan.ir, options(map_size=10))
    assert [w.category for w in caught] == [limits.HistoryWarning]
    assert "25,000" in str(caught[0].message)


def test_conditions_reject_unsupported_types() -> None:
    from typedflow.backends.stepfunctions.analysis import Ctx
    from typedflow.backends.stepfunctions.conditions import rule
    from typedflow.backends.stepfunctions.paths import Frame, Loc

    doc = flows.fan.ir
    frame = Frame(nodes={"ints": Loc("$.n_ints", False)})
    cond = ir.Compare("==", ir.OutputRef("ints", "out"), ir.Const(3))
    with pytest.raises(DefinitionError, match="numbers, strings and booleans"):
        rule(cond, Ctx(doc, doc.workflow), frame, "here")
    ok = rule(ir.Compare("<", ir.InputRef("n"), ir.Const(None)), Ctx(doc, doc.workflow), frame, "here")
    assert ok == {"Not": {"Variable": "$", "IsPresent": True}}  # ordering with null is false


@pytest.mark.parametrize(
    ("unix", "aws"),
    [
        ("30 2 * * 1-5", "cron(30 2 ? * 2-6 *)"),
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("*/15 * 1 * *", "cron(*/15 * 1 * ? *)"),
        ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("rate(5 minutes)", "rate(5 minutes)"),
    ],
)
def test_cron_conversion(unix: str, aws: str) -> None:
    assert to_aws(unix) == aws


def test_cron_rejects_both_days() -> None:
    with pytest.raises(CronError, match="both"):
        to_aws("0 0 1 * 1")


def test_iam_policies_are_least_privilege() -> None:
    opts = from_mapping(options())
    sm = state_machine_policy(opts, ["sqs"])
    assert sm["Statement"] == [
        {
            "Sid": "SendTaskRequests",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": ["arn:aws:sqs:us-east-1:123456789012:typedflow-tasks"],
        }
    ]
    w = worker_policy(opts, ["sqs"])
    actions = {a for s in w["Statement"] for a in s["Action"]}
    assert {
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "s3:GetObject",
        "s3:PutObject",
    } <= actions
    assert "arn:aws:s3:::typedflow-tests/tf/*" in [r for s in w["Statement"] for r in s["Resource"]]
    # without --queue-url both sides name the default queue the definition sends to
    default = Options(bucket="s3://b/p")
    receive = [s for s in worker_policy(default, ["sqs"])["Statement"] if s["Sid"] == "ReceiveTaskRequests"]
    send = [s for s in state_machine_policy(default, ["sqs"])["Statement"] if s["Sid"] == "SendTaskRequests"]
    assert receive[0]["Resource"] == send[0]["Resource"] == ["arn:aws:sqs:*:*:typedflow-tasks"]
    # task containers run by ECS need no queue
    assert not any(s["Sid"] == "ReceiveTaskRequests" for s in worker_policy(default, ["ecs"])["Statement"])
    batch = state_machine_policy(Options(batch_job_queue="q", batch_job_definition="d", bucket="s3://b/p"), ["batch"])
    assert any("batch:SubmitJob" in s["Action"] for s in batch["Statement"])


def test_compile_imports_no_boto3() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import typedflow.backends.stepfunctions as b; import typedflow.backends.stepfunctions."
        "compiler; print('boto3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_container_executors_get_store_and_lineage_signing_from_the_definition() -> None:
    # A request (state data) never chooses where a task writes or which key signs: containers take both
    # from their overrides, which only the definition sets.
    from typedflow.backends.stepfunctions.options import from_mapping

    opts = from_mapping(
        {
            **options("ecs"),
            "lineage_key": "awskms:arn:aws:kms:us-east-1:1:key/k",
            "lineage_anchor": "s3://anchor/a",
        }
    )
    definition = json.dumps(compile_definition(flows.chain.ir, opts))
    assert '{"Name": "TYPEDFLOW_BUCKET", "Value": "s3://typedflow-tests/tf"}' in definition
    assert '{"Name": "TYPEDFLOW_LINEAGE_KEY", "Value": "awskms:arn:aws:kms:us-east-1:1:key/k"}' in definition
    assert '"lineage"' not in definition
