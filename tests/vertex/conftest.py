"""Vertex test fixtures: task containers (subprocesses) must import the test workflows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="package", autouse=True)
def _importable_flows() -> Iterator[None]:
    # This directory (vertex_flows) and the repository's root (tests.support's shared flows), for these
    # tests only: other directories' subprocesses must not find the test flows by accident.
    paths = [str(HERE), str(HERE.parent.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(dict.fromkeys(paths)))
        yield


@pytest.fixture
def nulls_in_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """kfp.local cannot hand a task a list holding a null (Vertex's protobuf Value can): let it (a tolerant map's
    results read by a later task)."""
    from google.protobuf import struct_pb2
    from kfp.compiler import pipeline_spec_builder as psb

    orig = psb.to_protobuf_value

    def to_value(value: Any) -> Any:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE) if value is None else orig(value)

    monkeypatch.setattr(psb, "to_protobuf_value", to_value)
