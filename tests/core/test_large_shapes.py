"""Workflows larger and deeper than any recursion could follow: a long chain, a wide fan-out/fan-in and
blocks nested ``ir.MAX_NESTING`` deep trace, check, round-trip through the IR, compile to every target,
draw, and run on the local interpreter with the right result, under the default recursion limit."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typedflow.backends.stepfunctions.compiler import _Compiler, render
from typedflow.backends.stepfunctions.options import Options
from typedflow.backends.vertex.compiler import compile_text

from tests.conftest import import_source
from tests.support.shapes import KINDS, chain_source, expected, fan_source, nested_source
from typedflow import ir
from typedflow.cli.graph import render_graph
from typedflow.errors import IRValidationError, WorkflowDefinitionError
from typedflow.ir import codec
from typedflow.runtime.running import RunOptions, run_workflow

LIMIT = 1000  # Python's default; hypothesis raises the limit while it runs a test, this puts it back


@contextmanager
def _default_recursion_limit() -> Iterator[None]:
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def _everything(wf: Any, tmp: Path, want: int) -> None:
    doc = wf.ir
    again = codec.loads(codec.dumps_pretty(doc))
    assert again.digest == doc.digest
    for d in (doc, again):  # a loaded document compiles exactly as the live one
        asl = render(_Compiler(d, Options()).compile())
        spec = compile_text(d, {"output": "spec.json"})
        assert asl and spec
    assert render_graph(doc, "mermaid").startswith("---")
    result = run_workflow(wf, {"x": 1}, RunOptions(store=tmp / "store"))
    assert result.value == want


shapes = st.one_of(
    st.tuples(st.just("chain"), st.integers(LIMIT + 1, LIMIT + 300)),
    st.tuples(st.just("fan"), st.integers(LIMIT + 1, LIMIT + 300)),
    st.tuples(st.just("nested"), st.lists(st.sampled_from(KINDS), min_size=ir.MAX_NESTING, max_size=ir.MAX_NESTING)),
)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes)
def test_shapes_past_the_recursion_limit(tmp_path: Path, shape: tuple[str, Any]) -> None:
    kind, size = shape
    sources: dict[str, Callable[[Any], str]] = {"chain": chain_source, "fan": fan_source, "nested": nested_source}
    source = sources[kind](size)
    with _default_recursion_limit():
        wf = getattr(import_source(tmp_path, source), kind)
        if kind == "nested":
            assert ir.nesting(wf.ir) == ir.MAX_NESTING
        _everything(wf, tmp_path, expected(kind, size, 1))


@pytest.mark.parametrize("kind", KINDS)
def test_one_block_deeper_is_refused_clearly(tmp_path: Path, kind: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=f"nested {ir.MAX_NESTING + 1} deep"):
        import_source(tmp_path, nested_source([kind] * (ir.MAX_NESTING + 1)))


def test_an_ir_document_nested_deeper_is_refused(tmp_path: Path) -> None:
    doc = import_source(tmp_path, nested_source(["sub"] * ir.MAX_NESTING)).nested.ir
    data = codec.to_data(doc)
    # one more level of sub-workflow: the innermost one calls a copy of itself under a new name
    inner = next(w for w in data["subworkflows"] if w["name"] == "sub1")
    copy = {**inner, "name": "sub0"}
    inner_calls = {**inner, "nodes": [{**inner["nodes"][0]}]}
    inner_calls["nodes"] = [
        *inner["nodes"],
        {"kind": "subworkflow", "id": "deeper", "workflow": "sub0", "args": [], "loc": inner["nodes"][0]["loc"]},
    ]
    data["subworkflows"] = [copy, *(inner_calls if w["name"] == "sub1" else w for w in data["subworkflows"])]
    data["digest"] = codec.compute_digest(codec.converter.structure({**data, "digest": ""}, ir.WorkflowIR))
    with pytest.raises(IRValidationError, match=f"blocks nest {ir.MAX_NESTING + 1} deep"):
        codec.from_data(data)
