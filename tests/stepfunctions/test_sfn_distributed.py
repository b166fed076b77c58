"""map_over(distributed=True | "auto", tolerated_failure=...): a Distributed Map whose items a worker step writes
to S3 for ``ItemReader``, whose children's results ``ResultWriter`` writes to S3 and a worker step reads back in
item order (None for a failed item within ``ToleratedFailurePercentage``). Checked by asl-validator, executed on
moto and on LocalStack with the local interpreter's outputs."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typedflow.backends.stepfunctions.compiler import compile_machines
from typedflow.backends.stepfunctions.graph import DefinitionError
from typedflow.backends.stepfunctions.limits import estimate_events, map_payload
from typedflow.backends.stepfunctions.options import Options
from typedflow.backends.stepfunctions.protocol import PAYLOAD_LIMIT

from tests.stepfunctions.conftest import Aws, run_local
from tests.support import distributed_flows as flows
from typedflow.runtime.tolerance import tolerated_failures, tolerated_percentage


def _maps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in definition["States"].values() if s["Type"] == "Map"]


def _ops(definition: dict[str, Any]) -> dict[str, str]:
    """State name -> the map step (map-items / map-results) its request asks for."""
    out = {}
    for name, s in definition["States"].items():
        req = s.get("Parameters", {}).get("MessageBody", {}).get("typedflow", {})
        if "op" in req:
            out[name] = req["op"]
    return out


@pytest.fixture(params=["moto", "localstack"])
def engine(request: pytest.FixtureRequest) -> Aws:
    engine: Aws = request.getfixturevalue("aws" if request.param == "moto" else "localstack")
    return engine


def test_distributed_true_reads_items_from_s3_and_writes_results_there(aws: Aws) -> None:
    d = aws.compile(flows.fan.ir)
    (m,) = _maps(d)
    assert m["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert m["MaxConcurrency"] == 20
    assert "ItemsPath" not in m
    assert m["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "typedflow-tests", "Key.$": "$.d_map.Key"},
    }
    assert m["ResultWriter"]["Parameters"] == {"Bucket": "typedflow-tests", "Prefix": "tf/maps"}
    # the worker steps before and after it, and the run id every child execution's tasks report
    assert _ops(d) == {"map (items to S3)": "map-items", "map (results from S3)": "map-results"}
    assert d["States"]["map (items to S3)"]["Next"] == "map" and m["Next"] == "map (results from S3)"
    assert m["ItemSelector"]["tf_run.$"] == "$$.Execution.Name"
    assert "ToleratedFailurePercentage" not in m  # none tolerated: Step Functions' default, 0
    # the items' states run in child executions: the parent's history does not grow with the items
    assert estimate_events(d, 10) == estimate_events(d, 100_000)


def test_auto_is_distributed_only_when_map_size_needs_it(aws: Aws) -> None:
    small = _maps(aws.compile(flows.auto.ir, aws.options(map_size=100)))[0]
    assert small["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert small["ItemsPath"] == "$.n_numbers.out" and "ItemReader" not in small
    big = _maps(aws.compile(flows.auto.ir, aws.options(map_size=5_000)))[0]
    assert big["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert "ItemReader" in big and "ResultWriter" in big


def test_auto_is_distributed_when_the_items_and_results_would_not_fit_the_payload(aws: Aws) -> None:
    # 1,000 items: far from half the history quota either way; as text (no bound from the type) the items and
    # results would be past half of the 256 KiB payload, as integers they are not
    opts = aws.options(map_size=1_000)
    assert map_payload(flows.auto.ir.workflow.nodes[1], 1_000) < PAYLOAD_LIMIT // 2  # type: ignore[arg-type]
    numbers = _maps(aws.compile(flows.auto.ir, opts))[0]
    assert numbers["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    text = _maps(aws.compile(flows.auto_text.ir, opts))[0]
    assert text["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert _maps(aws.compile(flows.auto_text.ir, aws.options(map_size=100)))[0]["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "INLINE"
    }


@pytest.mark.parametrize(("flow", "percentage"), [(flows.tolerant, 10), (flows.intolerant, 5)])
def test_tolerated_failure_is_a_distributed_maps_tolerated_percentage(aws: Aws, flow: Any, percentage: int) -> None:
    (m,) = _maps(aws.compile(flow.ir))
    assert m["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"  # only a Distributed Map tolerates
    assert m["ToleratedFailurePercentage"] == percentage


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(0, 10_000).map(lambda k: k / 10_000),  # shares as people write them (0.29, 0.05, 1.0)
        st.floats(0, 1, allow_nan=False),  # and any float
    ),
    st.integers(0, 10_000),
    st.data(),
)
def test_the_tolerated_count_is_step_functions_rule_on_the_emitted_percentage(share: float, n: int, data: Any) -> None:
    # Step Functions fails the map run when the failed percentage is above ToleratedFailurePercentage: read the
    # number as the definition's JSON text carries it and compare exactly.
    emitted = Fraction(json.loads(json.dumps(tolerated_percentage(share))).__repr__())
    failed = data.draw(st.integers(0, n))
    aws_fails = Fraction(failed * 100, max(n, 1)) > emitted
    assert (failed > tolerated_failures(share, n)) == aws_fails
    assert 0 <= tolerated_failures(share, n) <= n


def test_a_distributed_map_needs_a_bucket(aws: Aws) -> None:
    with pytest.raises(DefinitionError, match=r"a Distributed Map reads its items from S3 .* needs --bucket"):
        compile_machines(flows.fan.ir, Options(queue_url=aws.queue_url))


def test_the_iam_policy_covers_the_children_and_the_s3_reads_and_writes(aws: Aws) -> None:
    from typedflow.backends.stepfunctions.iam import state_machine_policy
    from typedflow.backends.stepfunctions.limits import has_distributed_map

    machines = compile_machines(flows.fan.ir, aws.options())
    distributed = tuple(n for n, d in machines if has_distributed_map(d))
    assert distributed == ("fan",)
    assert not has_distributed_map(compile_machines(flows.auto.ir, aws.options())[0][1])
    policy = state_machine_policy(aws.options(), ["sqs"], (), distributed)
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert sids["DistributedMapRuns"]["Resource"] == ["arn:aws:states:*:*:stateMachine:fan"]
    assert sids["DistributedMapChildren"]["Resource"] == ["arn:aws:states:*:*:execution:fan/*"]
    # ItemReader's getObject of the staged items; ResultWriter's putObject (multipart) of the results
    assert sids["DistributedMapItems"] == {
        "Sid": "DistributedMapItems",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::typedflow-tests/tf/values/*"],
    }
    assert sids["DistributedMapResults"]["Action"] == [
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    ]
    assert sids["DistributedMapResults"]["Resource"] == ["arn:aws:s3:::typedflow-tests/tf/maps/*"]


def test_a_distributed_map_of_50_items_runs_with_the_interpreters_outputs(engine: Aws, tmp_path: Path) -> None:
    aws = engine  # 50 items at most 20 at a time: three waves of child executions
    local = run_local(flows.fan, {"n": 50}, tmp_path)
    assert local.ok and local.outputs == {"out": sum(i * i for i in range(50))}
    remote = aws.run(flows.fan.ir, {"n": 50}, timeout=300)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs
    # the items went through S3 (ItemReader) and the results came back from the files ResultWriter wrote
    outputs = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in aws.history(remote.arn)
        if e["type"] == "TaskSucceeded"
    ]
    (staged,) = [o for o in outputs if set(o) == {"Key", "n"}]
    assert staged["n"] == 50
    body = aws.s3.get_object(Bucket=aws.bucket.split("/")[2], Key=staged["Key"])["Body"].read()
    assert json.loads(body) == list(range(50))


def test_failed_items_within_the_tolerance_are_none(engine: Aws, tmp_path: Path) -> None:
    aws = engine
    local = run_local(flows.tolerant, {"n": 30}, tmp_path)  # items 3, 13, 23 fail: 10 %, as tolerated
    assert local.ok and local.outputs == {"out": [None if i % 10 == 3 else 2 * i for i in range(30)]}
    remote = aws.run(flows.tolerant.ir, {"n": 30}, timeout=120)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs
    # `typedflow runs show` lists task nodes: the map's two steps are not among them
    from typedflow.backends.stepfunctions.runs import history_nodes

    nodes = history_nodes(aws.history(remote.arn))
    assert "numbers" in nodes and "map" not in nodes


def test_a_tolerant_item_of_two_tasks_gives_the_local_results(aws: Aws, tmp_path: Path) -> None:
    local = run_local(flows.tolerant_chain, {"n": 20}, tmp_path)
    assert local.ok and local.outputs == {"out": [None if i % 10 == 3 else 2 * i + 1 for i in range(20)]}
    remote = aws.run(flows.tolerant_chain.ir, {"n": 20}, timeout=120)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs


def test_more_failures_than_tolerated_fail_the_run(aws: Aws, tmp_path: Path) -> None:
    assert not run_local(flows.intolerant, {"n": 30}, tmp_path).ok  # 3 of 30 failed, 1 tolerated
    remote = aws.run(flows.intolerant.ir, {"n": 30}, timeout=120)
    assert remote.status == "FAILED"
    # (on AWS the map run fails first, with States.ExceedToleratedFailureThreshold; moto and LocalStack do not
    # enforce the tolerance, and the results step fails the run the same way)
    assert remote.error == "typedflow.ToleratedFailureExceeded"
    assert "3 of the 30 items of map map failed, 1 tolerated; item 3: ValueError" in (remote.cause or "")


def test_past_the_tolerance_on_failure_gets_the_first_failed_items_failure(aws: Aws, tmp_path: Path) -> None:
    flows.FAILURES.clear()
    assert not run_local(flows.intolerant_handled, {"n": 30}, tmp_path).ok
    remote = aws.run(flows.intolerant_handled.ir, {"n": 30}, timeout=120)
    assert remote.status == "FAILED"
    here, there = flows.FAILURES
    assert there.run_id == remote.arn.rsplit(":", 1)[-1]
    # the first failure the run recorded: of the failed items, whichever failed first (items run concurrently)
    for f in (here, there):
        assert f.node in {"map[3]/flaky", "map[13]/flaky", "map[23]/flaky"}
        index = f.node.split("[")[1].split("]")[0]
        assert (f.workflow, f.error_type, f.message) == ("intolerant_handled", "ValueError", f"item {index} fails")


def test_print_iam_policy_covers_what_the_distributed_map_reads_and_writes(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    from typedflow.cli import main

    spec = f"{Path(flows.__file__)}:tolerant"
    args = ["deploy", spec, "--target", "stepfunctions", "--no-bundle", "--bucket", "s3://data/pre"]
    assert main([*args, "--name", "tol", "--print-iam-policy"]) == 0
    sids = {s["Sid"]: s for s in json.loads(capsys.readouterr().out)["Statement"]}
    assert sids["DistributedMapItems"]["Resource"] == ["arn:aws:s3:::data/pre/values/*"]
    assert sids["DistributedMapResults"]["Resource"] == ["arn:aws:s3:::data/pre/maps/*"]
    assert sids["DistributedMapRuns"]["Resource"] == ["arn:aws:states:*:*:stateMachine:tol"]


def test_a_distributed_map_in_a_child_state_machine(aws: Aws, tmp_path: Path) -> None:
    opts = aws.options(max_states=8)
    machines = compile_machines(flows.split_fan.ir, opts)
    for _, d in machines:
        aws.asl.check(d)
    holder = [n for n, d in machines if _maps(d)]
    assert holder and holder != [machines[0][0]]  # the map runs in a child
    (m,) = _maps(dict(machines)[holder[0]])
    assert m["ItemSelector"]["tf_run.$"] == "$.tf_run"  # the run id the child was given, not its own name
    local = run_local(flows.split_fan, {"n": 4}, tmp_path)
    assert local.ok and local.outputs == {"out": sum(i * i for i in range(10))}
    remote = aws.run(flows.split_fan.ir, {"n": 4}, opts)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs
