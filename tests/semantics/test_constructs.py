"""The constructs ported examples need, on every target: the same outputs as the local interpreter (and as
the same logic in plain Python), under moto's Step Functions engine and kfp.local."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import construct_flows as flows
from tests.support import normal_flows
from tests.support.aws import Aws
from tests.support.kfp import run_on_kfp_local
from typedflow.runtime.inputs import parse_inputs
from typedflow.runtime.running import RunOptions, run_workflow


def vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return run_on_kfp_local(wf, inputs, tmp_path)


CASES = [
    (flows.unpacked, {"xs": [1, 2, 3, 6]}, {"out": 3.0}),
    (flows.grid, {}, {"out": [30, 100]}),
    (flows.by_mode, {"name": "quick"}, {"out": 1}),
    (flows.by_mode, {"name": "slow"}, {"out": None}),
    (flows.chosen, {"x": 5}, {"out": 11}),
    (flows.chosen, {"x": 2}, {"out": 4}),
    (flows.chosen, {"x": 0}, {"out": 1}),
    (flows.chosen_raw, {"x": 5}, {"out": 10}),
    (flows.chosen_raw, {"x": 1}, {"out": 2}),
]


@pytest.mark.parametrize(("wf", "inputs", "expected"), CASES, ids=lambda v: getattr(v, "name", None) or json.dumps(v))
def test_on_every_target(aws: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any], expected: Any) -> None:
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "local"))
    assert local.ok and local.outputs == expected
    remote = aws.run(wf.ir, inputs)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == expected
    assert vertex(wf, inputs, tmp_path) == expected


def test_a_float_written_as_an_int_is_a_float_on_every_target(aws: Aws, tmp_path: Path) -> None:
    # 2 for a float input, and tasks that return ints where floats are declared: every target gives 6.0
    wf, inputs = normal_flows.scaled, {"v": 2}
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "local")).outputs
    remote = aws.run(wf.ir, inputs)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    from typedflow.backends.vertex.deploy import check_parameters

    submitted = check_parameters(wf.ir, inputs)  # what `typedflow start --target vertex` submits
    assert submitted == {"v": 2.0} and type(submitted["v"]) is float
    on_vertex = vertex(wf, submitted, tmp_path)
    for target, out in (("local", local), ("sfn", remote.outputs), ("vertex", on_vertex)):
        assert out == {"out": 6.0} and type(out["out"]) is float, (target, out)


@pytest.mark.parametrize("wf", [normal_flows.count_as_float, normal_flows.number_of_either], ids=lambda w: w.name)
def test_a_workflow_output_declared_float_is_a_float_on_every_target(aws: Aws, tmp_path: Path, wf: Any) -> None:
    # an int task output returned (directly, or as a one_of option) where the workflow declares a float:
    # the run's outputs say 2.0 on every target, fresh and from the cache, as its value does in Python
    seen: list[tuple[str, Any]] = []
    for isolation in ("thread", "process", "thread"):  # the last one from the cache
        options = RunOptions(store=tmp_path / "local", isolation=isolation)
        seen.append((f"local-{isolation}", run_workflow(wf, {"n": 2}, options).outputs))
    remote = aws.run(wf.ir, {"n": 2})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    vertex(wf, {"n": 2}, tmp_path / "v")
    (written,) = (tmp_path / "v" / "kfp" / "typedflow" / "runs").glob("*/outputs.json")  # what `runs outputs` reads
    seen += [("sfn", remote.outputs), ("vertex", json.loads(written.read_text())["outputs"])]
    assert wf(n=2) == 2.0
    for target, out in seen:
        assert out == {"out": 2.0} and type(out["out"]) is float, (target, out)


def test_a_dict_is_seen_in_one_order_on_every_target(aws: Aws, tmp_path: Path) -> None:
    # a task returns {"b": 1, "a": 2, "c": 3}; the next lists its keys, fresh and with the first cached
    for run in range(2):
        local = run_workflow(normal_flows.dict_order, {}, RunOptions(store=tmp_path / "local")).outputs
        remote = aws.run(normal_flows.dict_order.ir, {})
        assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
        on_vertex = vertex(normal_flows.dict_order, {}, tmp_path / f"v{run}")
        for target, out in (("local", local), ("sfn", remote.outputs), ("vertex", on_vertex)):
            assert out == {"out": ["a", "b", "c"]}, (target, run, out)


@pytest.mark.parametrize(("level", "expected"), [(flows.Level.HIGH, "high"), (flows.Level.LOW, None)])
def test_a_condition_on_an_int_enum_on_every_target(
    aws: Aws, tmp_path: Path, level: flows.Level, expected: str | None
) -> None:
    # the command line's `--input level=2` is the member 2 (it was the text "2": no member, so the
    # condition never held and the task could not decode it)
    given = parse_inputs(flows.by_level.ir, [f"level={level.value}"], None)
    assert given == {"level": level.value}
    local = run_workflow(flows.by_level, {"level": level}, RunOptions(store=tmp_path / "local"))
    assert local.outputs == {"out": expected}
    remote = aws.run(flows.by_level.ir, given)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == {"out": expected}
    assert vertex(flows.by_level, given, tmp_path) == {"out": expected}


def test_ordering_without_data(aws: Aws, tmp_path: Path) -> None:
    for target in ("local", "sfn", "vertex"):
        marks = tmp_path / target
        marks.mkdir()
        inputs = {"marks": str(marks)}
        if target == "local":
            out = run_workflow(flows.ordered, inputs, RunOptions(store=tmp_path / "s")).outputs
        elif target == "sfn":
            out = aws.run(flows.ordered.ir, inputs).outputs or {}
        else:
            (tmp_path / "v").mkdir()
            out = vertex(flows.ordered, inputs, tmp_path / "v")
        assert out == {"out": True}, target
    from typedflow.backends.vertex.compiler import compile_spec

    tasks = compile_spec(flows.ordered.ir)["root"]["dag"]["tasks"]
    assert tasks["saw"]["dependentTasks"] == ["mark"]


def _count(marks: Path, prefix: str) -> int:
    return len(list(marks.glob(f"{prefix}-*")))


def test_options_for_one_call(aws: Aws, tmp_path: Path) -> None:
    # the call with cache=False runs every time, the other is a cache hit the second time; only the call
    # given a retry policy is retried
    for target in ("local", "sfn"):
        marks = tmp_path / target
        marks.mkdir()
        for _ in range(2):
            if target == "local":
                r = run_workflow(flows.per_call, {"marks": str(marks)}, RunOptions(store=tmp_path / "s"))
                out = r.outputs
            else:
                out = aws.run(flows.per_call.ir, {"marks": str(marks)}).outputs or {}
            assert out == {"out": 4}, target
            for p in marks.glob("retried-*"):
                p.unlink()  # the retried call starts from its first attempt each run
        assert (_count(marks, "1"), _count(marks, "2")) == (2, 1), target
    from typedflow.backends.vertex.compiler import compile_spec

    tasks = compile_spec(flows.per_call.ir)["root"]["dag"]["tasks"]
    assert tasks["counted"]["cachingOptions"] == {"enableCache": False}
    assert tasks["counted-2"]["cachingOptions"] == {"enableCache": True}
    assert tasks["flaky"]["retryPolicy"]["maxRetryCount"] == 1


@pytest.mark.parametrize(("score", "ran"), [(0.95, "a"), (0.6, "b"), (0.3, "c"), (0.0, "d")])
def test_elif_chain_runs_the_first_branch_that_holds(aws: Aws, tmp_path: Path, score: float, ran: str) -> None:
    for target in ("local", "sfn", "vertex"):
        marks = tmp_path / target
        marks.mkdir()
        inputs = {"score": score, "marks": str(marks)}
        if target == "local":
            assert run_workflow(flows.graded, inputs, RunOptions(store=tmp_path / "s")).ok
        elif target == "sfn":
            assert aws.run(flows.graded.ir, inputs).status == "SUCCEEDED"
        else:
            (tmp_path / "v").mkdir()
            vertex(flows.graded, inputs, tmp_path / "v")
        assert sorted(p.name for p in marks.iterdir()) == [ran], target


def test_fail_with_a_message(aws: Aws, tmp_path: Path) -> None:
    out: dict[str, Any] | None
    for target in ("local", "sfn", "vertex"):
        for x, ok in ((1, True), (5, False)):
            marks = tmp_path / f"{target}-{x}"
            marks.mkdir()
            inputs = {"x": x, "marks": str(marks)}
            if target == "local":
                r = run_workflow(flows.checked, inputs, RunOptions(store=tmp_path / "s"))
                status, out = r.ok, r.outputs
                if not ok:
                    (failure,) = r.failures[:1]
                    assert (failure.error_type, failure.message) == ("typedflow.Fail", "x is too big")
            elif target == "sfn":
                remote = aws.run(flows.checked.ir, inputs)
                status, out = remote.status == "SUCCEEDED", remote.outputs
                if not ok:
                    # the cause ends naming the fail node, as a failed task's does
                    assert (remote.error, remote.cause) == (
                        "typedflow.Fail",
                        "x is too big\n(typedflow: failed node fail)",
                    )
            else:
                (tmp_path / f"v{x}").mkdir()
                try:
                    out, status = vertex(flows.checked, inputs, tmp_path / f"v{x}"), True
                except Exception:
                    out, status = {}, False
            assert status is ok, (target, x)
            if ok:
                assert out == {"out": 3}, target
                assert not (marks / "failure").exists()
            else:
                seen = json.loads((marks / "failure").read_text())
                if target != "vertex":  # Vertex hands an exit handler its task's state, not the message
                    assert seen == {"error_type": "typedflow.Fail", "message": "x is too big"}, target


def test_fail_inside_a_map_item(aws: Aws, tmp_path: Path) -> None:
    inputs = {"xs": [1, 5, 0], "marks": str(tmp_path)}
    r = run_workflow(flows.checked_in_map, inputs, RunOptions(store=tmp_path / "s"))
    assert not r.ok and r.failures[0].message == "x is too big"
    remote = aws.run(flows.checked_in_map.ir, inputs)
    assert (remote.status, remote.error) == ("FAILED", "typedflow.Fail")


def test_exit_handler_runs_whether_the_block_succeeded_or_failed(aws: Aws, tmp_path: Path) -> None:
    out: dict[str, Any] | None
    for target in ("local", "sfn", "vertex"):
        for x, ok in ((1, True), (5, False)):
            marks = tmp_path / f"{target}-{x}"
            marks.mkdir()
            inputs = {"x": x, "marks": str(marks)}
            if target == "local":
                r = run_workflow(flows.closed, inputs, RunOptions(store=tmp_path / "s"))
                status, out = r.ok, r.outputs
            elif target == "sfn":
                remote = aws.run(flows.closed.ir, inputs)
                status, out = remote.status == "SUCCEEDED", remote.outputs
            else:
                (tmp_path / f"v{x}").mkdir()
                try:
                    out, status = vertex(flows.closed, inputs, tmp_path / f"v{x}"), True
                except Exception:
                    out, status = {}, False
            assert status is ok, (target, x)
            seen = json.loads((marks / "closed").read_text())
            if ok:
                assert out == {"out": 3} and seen is None, target
            elif target == "vertex":
                assert seen is not None and seen["error_type"] == "FAILED"
            else:
                assert seen == {"error_type": "typedflow.Fail", "message": "x is too big"}, target


C = flows.Config
RECORDS = [
    (flows.paired, {"xs": [1, 5]}, [flows.Pair(2, 0), flows.Pair(6, 4)]),
    (flows.paired, {"xs": []}, []),
    (
        flows.rows,
        {"names": ["a", "b", "c"], "configs": [C(1, 5), C(2, 2)]},
        [flows.Row("b", 1, 10, "grid"), flows.Row("c", 2, None, "grid")],
    ),
    (flows.nested_pairs, {"ns": [1, 2]}, [[flows.Pair(1, 0)], [flows.Pair(1, 0), flows.Pair(2, 2)]]),
    # (kfp.local cannot pass a null nested in a task's argument: every bonus is there)
    (flows.rows_total, {"configs": [C(1, 5), C(4, 4)]}, 1 + 10 + 4 + 8),
    (flows.made_files, {"xs": [1, 3]}, [2, 6]),
]


@pytest.mark.parametrize(("wf", "inputs", "expected"), RECORDS, ids=lambda v: getattr(v, "name", None) or "")
def test_a_map_body_returning_a_record_on_every_target(
    aws: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any], expected: Any
) -> None:
    """map_over(lambda x: Pair(inc(x), dec(x)), xs) is a list of Pair, as in Python: on every target."""
    from typedflow.ir.values import encode

    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "local"))
    assert local.ok, local.failures
    assert local.value == expected
    typed = {k: encode(v, wf.annotations[k]) for k, v in inputs.items()}
    out = {"out": encode(expected, wf.returns_annotation)}
    assert local.outputs == out
    remote = aws.run(wf.ir, typed)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == out
    if inputs != {"xs": []}:  # kfp.local cannot run a ParallelFor over no items (any map_over, records or not)
        assert vertex(wf, typed, tmp_path) == out
