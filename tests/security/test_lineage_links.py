"""A lineage log (or one of its files) that is a symbolic link is never written through, and the refusal names
the file and says it is a link: ``typedflow run`` on a store, ``LineageLog`` itself and ``typedflow lineage pull``
exit 2 with one line, never a traceback; what the link points at is left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from typedflow.lineage.log import LineageLog

FILES = ["log.jsonl", "log.jsonl.head", "log.jsonl.head.tmp", "log.jsonl.checkpoints", "log.jsonl.repairs"]


def _plant(folder: Path, name: str, tmp_path: Path) -> tuple[Path, Path]:
    victim = tmp_path / "victim"
    victim.write_text("intact")
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / name
    os.symlink(victim, link)
    return link, victim


@pytest.mark.parametrize("name", FILES)
def test_opening_a_log_with_a_linked_file_names_it(tmp_path: Path, name: str) -> None:
    from typedflow.lineage.log import LineageLinkError

    link, victim = _plant(tmp_path / "lineage", name, tmp_path)
    with pytest.raises(LineageLinkError) as caught:
        LineageLog(tmp_path / "lineage" / "log.jsonl")
    assert str(caught.value) == f"{link} is a symbolic link; a lineage log and its files are never written through one"
    assert caught.value.filename == str(link)
    assert victim.read_text() == "intact"


@pytest.mark.parametrize("name", FILES)
def test_a_run_on_a_store_whose_lineage_file_is_a_link_is_bad_input(tmp_path: Path, name: str) -> None:
    link, victim = _plant(tmp_path / "s" / "lineage", name, tmp_path)
    r = run_cli("run", "tests.security.flows:doubled", "--store", str(tmp_path / "s"), "--input", "x=3")
    assert r.returncode == 2, r.stderr
    assert f"{link} is a symbolic link" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert victim.read_text() == "intact"
    assert not (tmp_path / "s" / "runs").exists() or not any((tmp_path / "s" / "runs").iterdir())


@pytest.mark.parametrize("name", ["log.jsonl", "log.jsonl.head", "log.jsonl.head.tmp"])
def test_lineage_pull_into_a_linked_log_is_bad_input(tmp_path: Path, name: str) -> None:
    link, victim = _plant(tmp_path / "l", name, tmp_path)
    (tmp_path / "from").mkdir()
    log = tmp_path / "l" / "log.jsonl"
    r = run_cli("lineage", "--log", str(log), "pull", "job-1", "--target", "vertex", "--from", str(tmp_path / "from"))
    assert r.returncode == 2, r.stderr
    says = "is a symbolic link; a lineage log and its files are never written through one"
    assert r.stderr == f"typedflow lineage pull: {link} {says}\n"
    assert victim.read_text() == "intact"
