"""Vertex test fixtures: task containers (subprocesses) must import the test workflows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def _importable_flows() -> None:
    # This directory (vertex_flows) and the repository's root (tests.support's shared flows).
    paths = [str(HERE), str(HERE.parent.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


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
