"""Workflows past one state machine's limits: split into child state machines started with
``states:startExecution.sync:2``. Every definition passes asl-validator; ``--max-states`` lowers the
threshold so small workflows exercise the split; ``compile -o DIR`` writes one file per state machine and
``deploy`` creates (and on a second run leaves) all of them, children first."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.stepfunctions.compiler import START_CHILD, compile_definition, compile_machines
from typedflow.backends.stepfunctions.deploy import deploy
from typedflow.backends.stepfunctions.failures import naming
from typedflow.backends.stepfunctions.graph import DefinitionError
from typedflow.backends.stepfunctions.limits import count_states, size
from typedflow.backends.stepfunctions.options import Options
from typedflow.backends.stepfunctions.protocol import DEFINITION_LIMIT

from tests.conftest import import_source
from tests.stepfunctions.conftest import ROLE, Aws, run_local
from tests.support.shapes import KINDS, chain_source, fan_source, nested_source
from typedflow.cli import main


def _starts(definition: dict[str, Any]) -> list[str]:
    """The child state machines a definition starts (by the name at the end of its ARN expression)."""
    found = []
    graphs = [definition]
    while graphs:
        g = graphs.pop()
        for state in g["States"].values():
            if state.get("Resource") == START_CHILD:
                found.append(state["Parameters"]["StateMachineArn.$"].split("stateMachine:")[1].split("'")[0])
            graphs.extend(state.get("Branches", ()))
            if "ItemProcessor" in state:
                graphs.append(state["ItemProcessor"])
    return found


def _check_tree(machines: list[tuple[str, dict[str, Any]]]) -> None:
    """Every child is started by exactly one machine, and the first machine is started by none."""
    names = [n for n, _ in machines]
    started = [c for _, d in machines for c in _starts(d)]
    assert sorted(started) == sorted(names[1:])
    assert names[0] not in started


@pytest.mark.parametrize("states", [16, 40])
def test_a_chain_split_by_max_states(aws: Aws, tmp_path: Path, states: int) -> None:
    wf = import_source(tmp_path, chain_source(120)).chain
    machines = compile_machines(wf.ir, aws.options(max_states=states))
    assert len(machines) > 2
    assert [n for n, _ in machines] == ["chain", *(f"chain-{k}" for k in range(1, len(machines)))]
    for _, d in machines:
        assert count_states(d) <= states
        aws.asl.check(d)
    _check_tree(machines)
    with pytest.raises(DefinitionError, match=f"compiles to {len(machines)} state machines"):
        compile_definition(wf.ir, aws.options(max_states=states))


@pytest.mark.parametrize("shape", ["fan", *KINDS])
def test_every_split_definition_passes_asl_validator(aws: Aws, tmp_path: Path, shape: str) -> None:
    if shape == "fan":
        wf = import_source(tmp_path, fan_source(60)).fan
    else:
        wf = import_source(tmp_path, nested_source([shape, "when", "map", "sub"] * 3)).nested
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested maps of --map-size items each: history warnings
        machines = compile_machines(wf.ir, aws.options(max_states=20))
    assert len(machines) > 1
    for _, d in machines:
        aws.asl.check(d)
    _check_tree(machines)


def test_past_the_definition_limit_splits_by_itself(aws: Aws, tmp_path: Path) -> None:
    wf = import_source(tmp_path, chain_source(2000)).chain
    machines = compile_machines(wf.ir, aws.options())
    assert len(machines) > 1
    for _, d in machines:
        assert size(d) <= DEFINITION_LIMIT
    _check_tree(machines)
    # the root starts its children and nothing else runs a task there
    assert not [s for s in machines[0][1]["States"].values() if "sqs" in s.get("Resource", "")]


def test_small_workflows_stay_one_state_machine(aws: Aws, tmp_path: Path) -> None:
    wf = import_source(tmp_path, chain_source(5)).chain
    assert len(compile_machines(wf.ir, aws.options())) == 1


def test_compile_to_a_directory(aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import_source(tmp_path, chain_source(60), name="tf_split_cli")
    spec = f"{tmp_path / 'tf_split_cli.py'}:chain"
    out = tmp_path / "out"
    assert (
        main(["compile", spec, "--target", "stepfunctions", "--no-bundle", "--max-states", "16", "-o", f"{out}/"]) == 0
    )
    files = sorted(p.name for p in out.iterdir())
    assert "chain.asl.json" in files and "chain-1.asl.json" in files and len(files) > 2
    for p in out.iterdir():
        aws.asl.check(json.loads(p.read_text()))
    # one file cannot hold several state machines: a clear error, nothing written
    assert (
        main(
            [
                "compile",
                spec,
                "--target",
                "stepfunctions",
                "--no-bundle",
                "--max-states",
                "16",
                "-o",
                str(tmp_path / "x.json"),
            ]
        )
        != 0
    )
    assert "compile -o DIR" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_iam_policy_covers_the_children(aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import_source(tmp_path, chain_source(60), name="tf_split_iam")
    spec = f"{tmp_path / 'tf_split_iam.py'}:chain"
    args = ["deploy", spec, "--target", "stepfunctions", "--no-bundle", "--bucket", aws.bucket, "--max-states", "16"]
    assert main([*args, "--name", "big", "--print-iam-policy"]) == 0
    policy = json.loads(capsys.readouterr().out)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert "arn:aws:states:*:*:stateMachine:big-1" in by_sid["StartChildren"]["Resource"]
    assert by_sid["FollowChildren"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert "StepFunctionsGetEventsForStepFunctionsExecutionRule" in by_sid["SyncChildren"]["Resource"][0]


def test_deploy_creates_every_state_machine_once(aws: Aws, tmp_path: Path) -> None:
    wf = import_source(tmp_path, chain_source(60)).chain
    opts = aws.options(max_states=16)
    first = deploy(wf.ir, opts, role_arn=ROLE, name="split-deploy", sfn=aws.sfn, s3=aws.s3)
    assert (
        first.created
        and len(first.children) == len(compile_machines(wf.ir, Options(name="split-deploy", max_states=16))) - 1
    )
    pages = aws.sfn.get_paginator("list_state_machines").paginate()  # the session's moto holds many
    names = {sm["name"] for page in pages for sm in page["stateMachines"]}
    assert {"split-deploy", "split-deploy-1", "split-deploy-2"} <= names
    again = deploy(wf.ir, opts, role_arn=ROLE, name="split-deploy", sfn=aws.sfn, s3=aws.s3)
    assert not again.created and not again.updated and again.children == first.children


def test_a_map_whose_items_alone_overrun_the_history_stays_one_machine_with_a_warning(aws: Aws, tmp_path: Path) -> None:
    # Splitting cannot shorten the history of one map's items: one machine, and the history warning.
    from typedflow.backends.stepfunctions.limits import HistoryWarning

    wf = import_source(tmp_path, nested_source(["map", "map"])).nested
    with pytest.warns(HistoryWarning, match="history events"):
        machines = compile_machines(wf.ir, aws.options(map_size=400))
    assert [n for n, _ in machines] == ["nested"]


def test_size_is_the_bytes_deploy_sends() -> None:
    definition = {"StartAt": "é", "States": {"é": {"Type": "Pass", "Comment": 'naïve ✓ "q"', "End": True}}}
    sent = json.dumps(definition, sort_keys=True, separators=(",", ":")).encode("utf-8")
    assert size(definition) == len(sent)


@pytest.fixture(params=["moto", "localstack"])
def engine(request: pytest.FixtureRequest) -> Aws:
    """The Step Functions engine a test runs on: moto in process, or LocalStack out of process (real HTTP, and
    its own newer interpreter, which runs ``startExecution.sync:2`` without the patches moto needs)."""
    engine: Aws = request.getfixturevalue("aws" if request.param == "moto" else "localstack")
    return engine


def test_a_split_chain_executes_with_the_local_outputs(engine: Aws, tmp_path: Path) -> None:
    aws = engine
    wf = import_source(tmp_path, chain_source(12)).chain
    opts = aws.options(max_states=8)
    machines = compile_machines(wf.ir, opts)
    assert len(machines) > 2
    local = run_local(wf, {"x": 3}, tmp_path)
    assert local.ok and local.outputs == {"out": 15}
    remote = aws.run(wf.ir, {"x": 3}, opts)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs
    # every child ran, once; the root waited for each child it starts
    root = aws.sfn.describe_execution(executionArn=remote.arn)["stateMachineArn"]
    for k in range(1, len(machines)):
        runs = aws.sfn.list_executions(stateMachineArn=f"{root}-{k}")["executions"]
        assert [r["status"] for r in runs] == ["SUCCEEDED"], k
    started = [e for e in aws.history(remote.arn) if e["type"] == "TaskSucceeded"]
    assert [e["taskSucceededEventDetails"]["resource"] for e in started] == ["startExecution.sync:2"] * len(
        _starts(machines[0][1])
    )


_FAILING_CHAIN = (
    """
from typedflow import Failure, task, workflow

FAILURES: list[Failure] = []


@task
def inc(x: int) -> int:
    return x + 1


@task
def explode(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


@task
def record(f: Failure) -> None:
    FAILURES.append(f)


@workflow(on_failure=record)
def chain(x: int) -> int:
"""
    + "\n".join(["    x = inc(x)"] * 6 + ["    x = explode(x)"] + ["    x = inc(x)"] * 13)
    + "\n    return x\n"
)


def test_a_failure_in_a_child_reaches_the_parents_on_failure(engine: Aws, tmp_path: Path) -> None:
    aws = engine
    mod = import_source(tmp_path, _FAILING_CHAIN)
    opts = aws.options(max_states=8)
    machines = compile_machines(mod.chain.ir, opts)
    # the failing task runs in a child of a child of the root
    holder = next(n for n, d in machines if any("explode" in s for s in d["States"]))
    assert holder not in _starts(machines[0][1]) and holder != machines[0][0]
    local = run_local(mod.chain, {"x": 1}, tmp_path)
    assert not local.ok
    remote = aws.run(mod.chain.ir, {"x": 1}, opts)
    assert remote.status == "FAILED"
    assert remote.error == "ValueError", remote.cause
    here, there = mod.FAILURES
    assert there.run_id == remote.arn.rsplit(":", 1)[-1]
    for field in ("workflow", "node", "error_type", "message"):
        assert getattr(there, field) == getattr(here, field), field
    assert (there.node, there.message) == ("explode", "cannot handle 7")


_CAUSELESS_CHAIN = (
    """
from typedflow import Failure, fail, task, when, workflow

FAILURES: list[Failure] = []


@task
def inc(x: int) -> int:
    return x + 1


@task
def record(f: Failure) -> None:
    FAILURES.append(f)


@workflow(on_failure=record)
def chain(x: int) -> int:
"""
    + "\n".join(["    x = inc(x)"] * 5 + ["    with when(x > 0):", "        fail('')"] + ["    x = inc(x)"] * 5)
    + "\n    return x\n"
)


def test_a_child_failed_by_an_empty_fail_fails_its_parent_with_its_error(engine: Aws, tmp_path: Path) -> None:
    # fail('') ends its child state machine with an error whose cause is only the line naming the node (it had no
    # cause before fail(...) named its node, which the parent must not need: it failed with States.Runtime when it
    # read one); the parent's handler gets the same Failure as locally, the fail node's key with it
    aws = engine
    mod = import_source(tmp_path, _CAUSELESS_CHAIN)
    opts = aws.options(max_states=8)
    machines = compile_machines(mod.chain.ir, opts)
    holder = next(
        n
        for n, d in machines
        if any(s.get("Type") == "Fail" and s.get("Cause") == naming("", "fail") for s in d["States"].values())
    )
    assert holder != machines[0][0]
    local = run_local(mod.chain, {"x": 1}, tmp_path)
    assert not local.ok
    remote = aws.run(mod.chain.ir, {"x": 1}, opts)
    assert (remote.status, remote.error) == ("FAILED", "typedflow.Fail"), remote.cause
    here, there = mod.FAILURES
    assert (there.node, there.error_type, there.message) == (here.node, here.error_type, here.message)
    assert (here.node, here.error_type, here.message) == ("fail", "typedflow.Fail", "")
