"""Conditions on edge values of their types decide as the same comparison does in plain Python, on every
target: the local interpreter, Step Functions (moto's engine) and Vertex (kfp.local)."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typedflow.backends.vertex.cel import literal

from tests.support import condition_value_flows as flows
from tests.support.aws import Aws
from tests.support.kfp import run_on_kfp_local
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
