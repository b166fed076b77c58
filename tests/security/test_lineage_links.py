"""A lineage log (or one of its files) that is a symbolic link is never written through, and the refusal names
the file and says it is a link: ``typedflow run`` on a store, ``LineageLog`` itself and ``typedflow lineage pull``
exit 2 with one line, never a traceback; what the link points at is left alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def _record(i: int) -> Any:
    from typedflow.lineage.record import new_record

    return new_record(
        "task",
        run_id="0" * 31 + "1",
        workflow="wf",
        ir_digest="sha256:" + "a" * 64,
        target="local",
        executor="thread",
        status="succeeded",
        node_id=f"n{i}",
        task="pkg.mod.fn",
    )


def test_a_link_planted_at_the_staged_head_while_the_log_is_open_is_not_written_through(tmp_path: Path) -> None:
    """The log refuses links when it opens; one planted after that (a race) costs the head update, never a
    group of records, and is named in a warning; the next open refuses it."""
    from typedflow.lineage.log import LineageLinkError, LineageRepairWarning
    from typedflow.lineage.query import iter_records
    from typedflow.lineage.verify import verify_log

    folder = tmp_path / "lineage"
    log = LineageLog(folder / "log.jsonl")
    log.append(_record(0))
    log.flush()
    link, victim = _plant(folder, "log.jsonl.head.tmp", tmp_path)
    with pytest.warns(LineageRepairWarning, match="is a symbolic link"):
        for i in range(1, 4):
            log.append(_record(i))
        log.close()
    assert victim.read_text() == "intact"
    assert [r.node_id for r, _ in iter_records(folder / "log.jsonl")] == ["n0", "n1", "n2", "n3"]
    with pytest.raises(LineageLinkError):
        LineageLog(folder / "log.jsonl")
    os.unlink(link)
    assert verify_log(folder / "log.jsonl").ok


def test_a_run_during_which_a_lineage_link_is_planted_keeps_its_records(tmp_path: Path) -> None:
    store, victim = tmp_path / "s", tmp_path / "victim"
    victim.write_text("intact")
    (store / "lineage").mkdir(parents=True)
    r = run_cli(
        "run",
        "tests.security.flows:planted",
        "--store",
        str(store),
        "--input",
        f"folder={store / 'lineage'}",
        "--input",
        f"victim={victim}",
    )
    link = store / "lineage" / "log.jsonl.head.tmp"
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert victim.read_text() == "intact"
    again = run_cli("run", "tests.security.flows:doubled", "--store", str(store), "--input", "x=3")
    assert again.returncode == 2 and f"{link} is a symbolic link" in again.stderr, again.stderr
    os.unlink(link)
    from typedflow.lineage.query import iter_records
    from typedflow.lineage.verify import verify_log

    assert verify_log(store / "lineage" / "log.jsonl").ok
    assert sorted(str(r.task) for r, _ in iter_records(store / "lineage" / "log.jsonl") if r.kind == "task") == [
        "number",
        "plant_link",
    ]


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_lineage_log_that_is_not_a_file_is_named(tmp_path: Path, kind: str) -> None:
    """A folder or a FIFO where the log goes: the run is refused before it starts, naming the log (a FIFO was
    taken for an empty log whose head names missing records)."""
    log = tmp_path / "s" / "lineage" / "log.jsonl"
    log.parent.mkdir(parents=True)
    r = run_cli("run", "tests.security.flows:doubled", "--store", str(tmp_path / "s"), "--input", "x=3")
    assert r.returncode == 0, r.stderr  # a head now names the records the log holds
    log.unlink()
    if kind == "folder":
        log.mkdir()
    else:
        os.mkfifo(log)
    r = run_cli("run", "tests.security.flows:doubled", "--store", str(tmp_path / "s"), "--input", "x=4", timeout=30)
    why = "Is a directory" if kind == "folder" else "not a regular file, which a lineage log is"
    assert (
        r.returncode == 2 and r.stderr.strip() == f"typedflow: bad input: cannot write the run's lineage: {log}: {why}"
    )
    assert len(list((tmp_path / "s" / "runs").iterdir())) == 1  # the refused run left no folder
