"""Cache entries of the local store: buffered in groups, seen at once by their own store, and by others."""

from __future__ import annotations

from pathlib import Path

from typedflow.runtime import store as store_mod
from typedflow.runtime.store import BUFFERED_ENTRIES, LocalStore


def _lines(root: Path) -> int:
    path = root / "meta.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_buffered_entries_reach_the_file_in_groups_and_at_close(tmp_path: Path) -> None:
    mine = LocalStore(tmp_path, buffered=True)
    mine.put_json("a", {"x": 1})
    assert mine.get_json("a") == {"x": 1} and _lines(tmp_path) == 0  # seen here before it is written
    mine.write_buffered()
    assert _lines(tmp_path) == 1
    for i in range(BUFFERED_ENTRIES):
        mine.put_json(f"k{i}", i)
    assert _lines(tmp_path) == 1 + BUFFERED_ENTRIES  # a full group is written at once
    mine.put_json("last", [1])
    mine.close()
    assert _lines(tmp_path) == 2 + BUFFERED_ENTRIES


def test_another_store_sees_entries_once_written(tmp_path: Path, monkeypatch: object) -> None:
    writer, reader = LocalStore(tmp_path), LocalStore(tmp_path)
    assert reader.get_json("a") is None
    writer.put_json("a", 1)  # unbuffered: written at once
    reader._meta_checked = -store_mod.META_RECHECK  # as if the recheck interval had passed
    assert reader.get_json("a") == 1
    writer.close()
    reader.close()
