"""Command-line paths that are not what a command expects (a FIFO for ``--ir``, a folder for ``-o``, a node key
too long for the OS) are one line naming the path and exit 2, never a traceback or a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run_cli as _cli
from typedflow.cli import main


@pytest.mark.parametrize(
    "command",
    [["compile", "--target", "ir"], ["graph"], ["run", "--store", "STORE"]],
)
def test_a_fifo_given_as_the_ir_is_refused_not_read(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "wf.ir.json"
    os.mkfifo(fifo)
    args = [str(tmp_path / "s") if a == "STORE" else a for a in command]
    r = _cli(*args, "--ir", str(fifo))
    assert r.returncode == 2 and f"--ir: {fifo} is not a regular file" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["graph", "bundle"])
def test_an_output_that_is_a_folder_is_bad_input(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    assert main([command, "tests.security.flows:doubled", "-o", str(folder)]) == 2
    assert f"typedflow {command}: cannot write {folder}: Is a directory" in capsys.readouterr().err
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_node_key_too_long_for_a_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "tests.security.flows:doubled", "--store", str(tmp_path), "--input", "x=1"]) == 0
    (run_id,) = (p.name for p in (tmp_path / "runs").iterdir())
    capsys.readouterr()
    assert main(["runs", "logs", run_id, "--node", "a" * 5000, "--store", str(tmp_path)]) == 0
    assert "no output kept for node" in capsys.readouterr().err
