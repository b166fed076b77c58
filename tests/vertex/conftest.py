"""Vertex test fixtures: task containers (subprocesses) must import the test workflows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def _importable_flows() -> None:
    # This directory (vertex_flows) and the repository's root (tests.support's shared flows).
    paths = [str(HERE), str(HERE.parent.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
