"""The local store serves only intact content of its own, and its cache only well-formed entries."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.security import flows
from typedflow.runtime.running import RunOptions, RunResult, run_workflow
from typedflow.runtime.store import LocalStore


def _run(wf: object, inputs: dict[str, object], root: Path) -> RunResult:
    return run_workflow(wf, inputs, RunOptions(store=root))


def _objects(root: Path) -> list[Path]:
    return [p for p in (root / "store" / "objects").rglob("*") if p.is_file()]


def test_a_tampered_object_is_never_served(tmp_path: Path) -> None:
    first = _run(flows.roundtrip, {"text": "original"}, tmp_path)
    assert first.value == "original"
    (obj,) = _objects(tmp_path)
    os.chmod(obj, 0o644)
    obj.write_text("tampered")
    again = _run(flows.roundtrip, {"text": "original"}, tmp_path)
    # `write` is a cache hit whose file changed: not served; the task runs again and restores the object
    # (`read`, keyed by the content it read, is a hit: its answer was computed from the intact bytes)
    assert again.value == "original"
    assert {n.task: n.status for n in again.nodes} == {"write": "succeeded", "read": "cached"}
    assert obj.read_text() == "original"
    assert list((tmp_path / "store" / "quarantine").iterdir())  # the changed copy, kept for inspection


def test_a_tampered_output_of_a_cache_hit_is_not_handed_out(tmp_path: Path) -> None:
    first = _run(flows.produced, {"text": "v1"}, tmp_path)
    (obj,) = _objects(tmp_path)
    os.chmod(obj, 0o644)
    obj.write_text("v2")
    again = _run(flows.produced, {"text": "v1"}, tmp_path)
    assert again.cache_hits == 0
    assert Path(again.outputs["out"]["uri"]).read_text() == "v1"
    assert again.outputs == first.outputs


def test_a_task_that_changes_its_input_fails_and_the_store_is_restored(tmp_path: Path) -> None:
    result = _run(flows.appends, {"text": "data\n"}, tmp_path)
    assert not result.ok
    (failure,) = result.failures
    assert failure.error_type == "typedflow.InputModified"
    assert "read-only" in failure.message
    # the next run restores the object its producer stores (a cache hit for a file that changed is a miss)
    again = _run(flows.roundtrip, {"text": "data\n"}, tmp_path)
    assert again.value == "data\n"


@pytest.mark.parametrize(
    "entry",
    [
        {"outputs": {"out": "not an int"}, "task": "number"},  # another type than declared
        {"outputs": {}, "task": "number"},  # an output missing
        {"outputs": {"out": 2, "extra": 1}, "task": "number"},
        {"v": 5},  # not an entry
        [1, 2],
        "text",
    ],
)
def test_a_forged_cache_entry_is_a_miss(tmp_path: Path, entry: object, caplog: pytest.LogCaptureFixture) -> None:
    first = _run(flows.doubled, {"x": 21}, tmp_path)
    assert first.value == 42
    meta = tmp_path / "store" / "meta.jsonl"
    key = json.loads(meta.read_text().splitlines()[0])["k"]
    with meta.open("a") as fh:
        fh.write(json.dumps({"k": key, "v": entry}) + "\n")
    with caplog.at_level(logging.WARNING):
        again = _run(flows.doubled, {"x": 21}, tmp_path)
    assert again.ok and again.value == 42 and again.cache_hits == 0
    assert "not served" in caplog.text


def test_a_cache_entry_pointing_outside_the_store_is_a_miss(tmp_path: Path) -> None:
    first = _run(flows.produced, {"text": "mine"}, tmp_path)
    meta = tmp_path / "store" / "meta.jsonl"
    key = json.loads(meta.read_text().splitlines()[-1])["k"]
    secret = tmp_path / "shadow"
    secret.write_text("root:secret")
    import hashlib

    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    forged = {"outputs": {"out": {"uri": str(secret), "sha256": sha, "format": None}}, "task": "write"}
    with meta.open("a") as fh:
        fh.write(json.dumps({"k": key, "v": forged}) + "\n")
    again = _run(flows.produced, {"text": "mine"}, tmp_path)
    assert again.cache_hits == 0
    assert again.outputs == first.outputs
    assert Path(again.outputs["out"]["uri"]).read_text() == "mine"


def test_a_planted_link_for_the_cache_file_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("intact")
    (tmp_path / "s" / "store").mkdir(parents=True)
    os.symlink(victim, tmp_path / "s" / "store" / "meta.jsonl")
    with pytest.raises(Exception, match=r"Too many levels|symbolic link|ELOOP"):
        _run(flows.doubled, {"x": 1}, tmp_path / "s")
    assert victim.read_text() == "intact"


def test_handles_are_only_read_from_their_own_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "a")
    src = tmp_path / "f.txt"
    src.write_text("hello")
    uri, sha = store.put_file(src)
    assert store.fetch(uri, sha, False).read_text() == "hello"
    with pytest.raises(Exception, match="not a sha256"):
        store.fetch(uri, "../../etc/passwd", False)
    with pytest.raises(Exception, match="does not name stored content"):
        store.fetch("/etc/hostname", sha, False)
    other = LocalStore(tmp_path / "b")
    with pytest.raises(Exception, match="does not name stored content"):
        other.fetch(uri, sha, False)


def test_directories_are_verified_too(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    src = tmp_path / "d"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    uri, sha = store.put_dir(src)
    tree = store.fetch(uri, sha, True)
    assert sorted(p.name for p in tree.rglob("*.txt")) == ["a.txt", "b.txt"]
    os.symlink("/etc/hostname", tree / "sub" / "added")
    with pytest.raises(Exception, match=r"changed after it was stored|not a regular file"):
        store.fetch(uri, sha, True)
    # the next put restores it
    store.put_dir(src)
    assert store.fetch(uri, sha, True).is_dir()


@pytest.mark.parametrize("name", ["log.jsonl", "log.jsonl.head.tmp", "log.jsonl.checkpoints"])
def test_a_planted_link_in_the_lineage_folder_is_not_followed(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("intact")
    (tmp_path / "s" / "lineage").mkdir(parents=True)
    os.symlink(victim, tmp_path / "s" / "lineage" / name)
    try:
        _run(flows.doubled, {"x": 1}, tmp_path / "s")
    except Exception as exc:  # refusing the link is fine; following it is not
        assert "symbolic link" in str(exc) or "Too many levels" in str(exc) or "ELOOP" in str(exc), exc
    assert victim.read_text() == "intact"
