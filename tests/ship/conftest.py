"""Shipping fixtures: a stock Python environment standing in for a container started from a stock image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stock container has no PYTHONPATH: what a shipped command imports, it must find installed (another
    test directory's fixtures may have set one for their own subprocesses)."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


@pytest.fixture(scope="session")
def stock_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh virtual environment with nothing installed (like ``python:3.11-slim``):
    what a container command finds there, it installed itself. Made once per test session; the
    bootstrap's installs stay in it, so later containers find them satisfied (as a warm image would)."""
    venv = tmp_path_factory.mktemp("stock") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).stdout
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert installed <= {"pip", "setuptools"}, installed  # nothing of typedflow's or of the task's
    return python
