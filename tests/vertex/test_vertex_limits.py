"""The PipelineSpec's own bounds that a workflow can reach, checked when compiling for Vertex: a map_over
max_concurrency past the int32 of iteratorPolicy.parallelismLimit is a compile error naming the limit, and the
largest accepted value is one the strict spec parser takes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from typedflow.backends.vertex.compiler import CompileError, compile_spec
from typedflow.backends.vertex.dag import PARALLELISM_LIMIT_MAX

from tests.conftest import import_source
from tests.support.vertex_spec import check_strict

_SRC = """
from typedflow import map_over, workflow

from tests.support.distributed_flows import numbers, square


@workflow
def wide(n: int) -> list[int]:
    return map_over(square, numbers(n), max_concurrency={limit})
"""


def _loop_policies(spec: Mapping[str, object]) -> list[object]:
    comps = spec["components"]
    assert isinstance(comps, dict)
    return [
        t["iteratorPolicy"]
        for c in comps.values()
        for t in c.get("dag", {}).get("tasks", {}).values()
        if "iteratorPolicy" in t
    ]


def test_the_largest_parallelism_limit_compiles_and_parses(tmp_path: Path) -> None:
    wf = import_source(tmp_path, _SRC.format(limit=PARALLELISM_LIMIT_MAX)).wide
    spec = compile_spec(wf.ir)
    assert _loop_policies(spec) == [{"parallelismLimit": 2_147_483_647}]
    assert check_strict(spec) == []


def test_a_larger_max_concurrency_is_a_compile_error_naming_the_limit(tmp_path: Path) -> None:
    wf = import_source(tmp_path, _SRC.format(limit=PARALLELISM_LIMIT_MAX + 1)).wide
    with pytest.raises(CompileError, match=r"max_concurrency 2,147,483,648 is over .* at most 2,147,483,647") as err:
        compile_spec(wf.ir)
    assert "iteratorPolicy.parallelismLimit is an int32" in str(err.value)
    assert "tfcase_" in str(err.value)  # the source line of the map_over


def test_the_limit_is_the_spec_parsers_own() -> None:
    # what the check stands for: the strict PipelineSpec parse rejects one more
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb

    json_format.ParseDict({"iteratorPolicy": {"parallelismLimit": PARALLELISM_LIMIT_MAX}}, pb.PipelineTaskSpec())
    with pytest.raises(json_format.ParseError, match="out of range"):
        json_format.ParseDict(
            {"iteratorPolicy": {"parallelismLimit": PARALLELISM_LIMIT_MAX + 1}}, pb.PipelineTaskSpec()
        )
