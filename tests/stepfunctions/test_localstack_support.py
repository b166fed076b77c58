"""The session's LocalStack: where it is installed, how a missing Python 3.13 is reported, and that the server
the session started answers on its own port with its own directories."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support import localstack


def test_the_install_folder_is_named_by_the_pins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TYPEDFLOW_LOCALSTACK_CACHE", str(tmp_path))
    first = localstack.venv_dir()
    assert first.parent == tmp_path and first.name.startswith(f"py{localstack.PYTHON}-")
    monkeypatch.setattr(localstack, "PINS", (*localstack.PINS, "extra==1"))
    assert localstack.venv_dir() != first


def test_no_python_313_is_a_clear_error_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TYPEDFLOW_LOCALSTACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TYPEDFLOW_PYTHON313", str(tmp_path / "no-python"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(localstack.LocalStackUnavailable, match=r"no Python 3\.13 was found .*pyenv install"):
        localstack.install()
    assert not localstack.venv_dir().exists()


def test_a_venv_without_its_completion_mark_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TYPEDFLOW_LOCALSTACK_CACHE", str(tmp_path))
    half = localstack.venv_dir() / "bin"
    half.mkdir(parents=True)
    (half / "python").write_text("")
    assert localstack.installed_python() is None


def test_the_session_server_is_private_and_healthy(localstack_server: Any) -> None:
    with urllib.request.urlopen(localstack_server.endpoint + "/_localstack/health", timeout=5) as resp:
        services = json.loads(resp.read())["services"]
    assert {services[s] for s in localstack.SERVICES.split(",")} <= {"available", "running"}
    # every folder it writes is under the session's own root, never the machine's shared /tmp/localstack
    assert localstack_server.log_path.parent == localstack_server.root
    assert (localstack_server.root / "tmp").is_dir()
    assert localstack_server.proc is not None and os.getpgid(localstack_server.proc.pid) == localstack_server.proc.pid
