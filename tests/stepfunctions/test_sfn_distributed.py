"""map_over(distributed=True | "auto"): a Distributed Map (child executions, MaxConcurrency up to 10,000),
checked by asl-validator and executed on moto with the local interpreter's outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.stepfunctions.graph import DefinitionError
from typedflow.backends.stepfunctions.limits import estimate_events

from tests.stepfunctions.conftest import Aws, run_local
from tests.support import distributed_flows as flows


def _maps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in definition["States"].values() if s["Type"] == "Map"]


def test_distributed_true_compiles_to_a_distributed_map(aws: Aws) -> None:
    d = aws.compile(flows.fan.ir)
    (m,) = _maps(d)
    assert m["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert m["MaxConcurrency"] == 50
    # the items' states run in child executions: the parent's history does not grow with the items
    assert estimate_events(d, 10) == estimate_events(d, 100_000)


def test_auto_is_distributed_only_when_map_size_needs_it(aws: Aws) -> None:
    small = _maps(aws.compile(flows.auto.ir, aws.options(map_size=100)))[0]
    assert small["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    big = _maps(aws.compile(flows.auto.ir, aws.options(map_size=5_000)))[0]
    assert big["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


def test_tolerated_failure_is_refused_until_step_functions_can_give_none(aws: Aws) -> None:
    with pytest.raises(DefinitionError, match="tolerated_failure runs on the local interpreter only"):
        aws.compile(flows.tolerant.ir)


@pytest.fixture(params=["moto", "localstack"])
def engine(request: pytest.FixtureRequest) -> Aws:
    return request.getfixturevalue("aws" if request.param == "moto" else "localstack")


def test_a_distributed_map_of_200_items_runs_with_the_interpreters_outputs(engine: Aws, tmp_path: Path) -> None:
    aws = engine
    local = run_local(flows.fan, {"n": 200}, tmp_path)
    assert local.ok and local.outputs == {"out": sum(i * i for i in range(200))}
    remote = aws.run(flows.fan.ir, {"n": 200}, timeout=120)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs


def test_the_iam_policy_lets_a_distributed_map_start_its_children(aws: Aws) -> None:
    from typedflow.backends.stepfunctions.compiler import compile_machines
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
