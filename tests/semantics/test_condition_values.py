"""Conditions on edge values of their types decide as the same comparison does in plain Python, on every
target: the local interpreter, Step Functions (moto's engine) and Vertex (kfp.local)."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typedflow.backends.stepfunctions.compiler import compile_machines
from typedflow.backends.stepfunctions.graph import DefinitionError
from typedflow.backends.stepfunctions.options import Options
from typedflow.backends.vertex import BACKEND as VERTEX
from typedflow.backends.vertex.cel import literal
from typedflow.backends.vertex.dag import CompileError

from tests.support import condition_value_flows as flows
from tests.support.aws import Aws
from tests.support.kfp import run_on_kfp_local
from typedflow import WorkflowDefinitionError, when, workflow
from typedflow.runtime.running import RunOptions, run_workflow


def test_a_string_literal_with_control_characters(aws: Aws, tmp_path: Path) -> None:
    # Vertex's CEL has no raw newline in a quoted string: the literal must be escaped, or the condition
    # does not parse and the branch is skipped although the comparison holds
    inputs = {"s": "one line"}
    said = flows.echo(inputs["s"])  # the body in plain Python (a task called outside a workflow is its function)
    expected = {"out": flows.echo(inputs["s"]) if said != "two\nlines\tand a tab" else None}
    assert expected == {"out": "one line"}
    assert run_workflow(flows.not_two_lines, inputs, RunOptions(store=tmp_path / "s")).outputs == expected
    remote = aws.run(flows.not_two_lines.ir, inputs)
    assert (remote.status, remote.outputs) == ("SUCCEEDED", expected)
    assert run_on_kfp_local(flows.not_two_lines, inputs, tmp_path / "v") == expected


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_a_cel_string_literal_reads_back_as_written(s: str) -> None:
    # the escapes used (\\, \', \xHH) mean the same in CEL and in Python, so Python reads the literal back
    text = literal(s)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
    assert ast.literal_eval(text) == s


def test_a_bool_compared_with_a_number_runs_as_python_or_is_refused(tmp_path: Path) -> None:
    # True == 1 in Python and locally; CEL has no bool/number overload (or says false), and Step Functions
    # compares each type with its own rules: both targets refuse the workflow instead of deciding otherwise
    said = flows.flag(True)
    assert run_workflow(flows.flag_is_one, {"b": True}, RunOptions(store=tmp_path)).outputs == {
        "out": flows.echo("one") if said == 1 else None
    }
    with pytest.raises(CompileError, match="compares a bool with a number"):
        VERTEX.compile(flows.flag_is_one.ir, {"output": str(tmp_path / "spec.yaml")})
    with pytest.raises(DefinitionError, match="got bool and int"):
        compile_machines(flows.flag_is_one.ir, Options())


def test_dates_are_ordered_as_in_python(aws: Aws, tmp_path: Path) -> None:
    # a task output and an input, ordered as Python orders dates, on every target (each compares the
    # isoformat text); the definition-time checker refused an ordering of dates
    for d, e in ((date(2026, 1, 5), date(2026, 1, 12)), (date(999, 12, 31), date(2026, 1, 5))):
        expected = flows.verdict(d, e)
        assert run_workflow(flows.dates, {"d": d, "e": e}, RunOptions(store=tmp_path / "s")).outputs == expected
        inputs = {"d": d.isoformat(), "e": e.isoformat()}  # typed JSON
        remote = aws.run(flows.dates.ir, inputs)
        assert (remote.status, remote.outputs) == ("SUCCEEDED", expected), (remote.error, remote.cause)
        assert run_on_kfp_local(flows.dates, inputs, tmp_path / f"v{d.year}") == expected


def test_an_int_enum_is_compared_as_the_int_it_is(aws: Aws, tmp_path: Path) -> None:
    # an IntEnum member is an int in Python (and for mypy): compared with an int on every target as there; the
    # definition-time checker refused the comparison
    for level, n in ((flows.Level.HIGH, 2), (flows.Level.LOW, 2)):
        expected = flows.verdict(level, n)
        assert (
            run_workflow(flows.levels, {"level": level, "n": n}, RunOptions(store=tmp_path / "s")).outputs == expected
        )
        inputs = {"level": level.value, "n": n}  # typed JSON
        remote = aws.run(flows.levels.ir, inputs)
        assert (remote.status, remote.outputs) == ("SUCCEEDED", expected), (remote.error, remote.cause)
        assert run_on_kfp_local(flows.levels, inputs, tmp_path / f"v{level.value}") == expected


LIMIT = 2**53 - 1
edge_floats = st.sampled_from([0.0, -0.0, 1e-7, -1e-7, 5e-324, float(LIMIT), 2.0**53, 0.5, -1.0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(-LIMIT, LIMIT) | st.sampled_from([0, 1, -1, LIMIT]),
    st.floats(allow_nan=False, allow_infinity=False) | edge_floats,
)
def test_comparing_an_int_with_a_float_locally(tmp_path: Path, i: int, f: float) -> None:
    out = run_workflow(flows.numbers, {"i": i, "f": f}, RunOptions(store=tmp_path / "s")).outputs
    assert out == flows.verdict(flows.whole(i), flows.real(f))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=3), st.text(max_size=3))
def test_comparing_texts_locally(tmp_path: Path, s: str, t: str) -> None:
    out = run_workflow(flows.texts, {"s": s, "t": t}, RunOptions(store=tmp_path / "s")).outputs
    assert out == flows.verdict(flows.echo(s), flows.echo(t))


NUMBER_EDGES = [(0, -0.0), (LIMIT, 2.0**53), (0, 1e-7), (0, 5e-324), (-1, -1.0)]
TEXT_EDGES = [("é", "z"), ("\uffff", "\U0001f600"), ("a", "a\x00"), ("", "")]


def test_comparisons_of_edge_values_on_step_functions(aws: Aws) -> None:
    # moto's engine; AWS's own string order is not verified here (see docs/stepfunctions.md)
    for wf, cases in (
        (flows.numbers, [{"i": i, "f": f} for i, f in NUMBER_EDGES]),
        (flows.texts, [{"s": s, "t": t} for s, t in TEXT_EDGES]),
    ):
        for inputs in cases:
            a, b = inputs.values()
            remote = aws.run(wf.ir, inputs)
            assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
            assert remote.outputs == flows.verdict(a, b), inputs


@pytest.mark.parametrize(
    ("literal", "why"),
    [
        ("2**53 + 1", "within ±(2**53 - 1)"),  # Vertex's doubles decided it as 2**53: == held for f = 2.0**53
        ("-(2**63)", "within ±(2**53 - 1)"),
        ('float("inf")', "must be finite"),  # was a ValueError traceback from the IR's canonical JSON
        ('float("nan")', "must be finite"),
    ],
)
def test_a_literal_no_target_compares_exactly_is_refused(literal: str, why: str) -> None:
    # a literal is a constant of the workflow: the typed-JSON rules hold for it as for a task argument
    with pytest.raises(WorkflowDefinitionError) as info:

        @workflow
        def beyond(f: float) -> bool | None:
            with when(flows.real(f) == eval(literal)):
                out = flows.holds()
            return out

    (problem,) = info.value.problems
    assert problem.code == "typedflow-condition" and why in problem.message, problem.message


def test_the_largest_int_literal_decides_as_in_python(aws: Aws, tmp_path: Path) -> None:
    for f in (2.0**53, float(LIMIT), 2.0**53 - 2):
        expected = flows.verdict(flows.real(f), LIMIT)
        assert run_workflow(flows.at_the_int_limit, {"f": f}, RunOptions(store=tmp_path / "s")).outputs == expected
        remote = aws.run(flows.at_the_int_limit.ir, {"f": f})
        assert (remote.status, remote.outputs) == ("SUCCEEDED", expected), (remote.error, remote.cause)
        assert run_on_kfp_local(flows.at_the_int_limit, {"f": f}, tmp_path / f"v{f}") == expected


def test_a_str_enum_is_returned_passed_and_compared_as_the_str_it_is(aws: Aws, tmp_path: Path) -> None:
    # a task returning a StrEnum (or str-mixin) member failed its output check ("expected one of [...], got
    # <Stage.DEV: 'dev'>"): the member, not its value, was left in typed JSON
    for s, t in (("dev", "free"), ("prod", "paid"), ("prod", "free")):
        expected = flows.str_enum_verdict(s, t)
        inputs = {"s": s, "t": t}
        local = run_workflow(flows.str_enums, inputs, RunOptions(store=tmp_path / "s"))
        assert (local.status, local.outputs) == ("succeeded", expected), local.failures
        remote = aws.run(flows.str_enums.ir, inputs)
        assert (remote.status, remote.outputs) == ("SUCCEEDED", expected), (remote.error, remote.cause)
        assert run_on_kfp_local(flows.str_enums, inputs, tmp_path / f"v{s}{t}") == expected
