"""Cache entries of the local store: buffered in groups, seen at once by their own store, and by others."""

from __future__ import annotations

from pathlib import Path

import pytest

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


class _Parsed:
    """Counts the bytes of meta.jsonl the store parses."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real, self.bytes = store_mod._ENTRY, 0
        monkeypatch.setattr(store_mod, "_ENTRY", self)

    def findall(self, chunk: bytes, start: int, end: int) -> list[tuple[bytes, bytes, bytes]]:
        self.bytes += end - start
        return self.real.findall(chunk, start, end)


def test_a_new_store_reads_every_entry_once_and_not_its_own_appends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = LocalStore(tmp_path, buffered=True)
    for i in range(200):
        first.put_json(f"k{i}", {"i": i})
    first.close()
    with open(tmp_path / "meta.jsonl", "ab") as fh:  # another process's entries, and a line of another form
        fh.write(b'{"k":"late","v":[1]}\n{"v": 2, "k": "spaced"}\n')
    size = (tmp_path / "meta.jsonl").stat().st_size
    parsed = _Parsed(monkeypatch)
    second = LocalStore(tmp_path)
    assert second.get_json("late") == [1] and second.get_json("spaced") == 2
    assert second.get_json("k199") == {"i": 199} and second.get_json("nope") is None
    assert parsed.bytes == size  # the file once, however many look-ups
    second.put_json("mine", 3)
    second._meta_checked = -store_mod.META_RECHECK  # as if the recheck interval had passed
    assert second.get_json("absent") is None and second.get_json("mine") == 3
    assert parsed.bytes == size  # its own appends are in its index already: not read back
    second.close()


def test_a_rewritten_meta_file_is_read_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = LocalStore(tmp_path)
    for i in range(50):
        first.put_json(f"k{i}", i)
    assert first.get_json("k3") == 3
    first.close()
    # cut and written again, longer than before
    (tmp_path / "meta.jsonl").write_bytes(b"".join(b'{"k":"n%d","v":%d}\n' % (i, -i) for i in range(80)))
    second = LocalStore(tmp_path)
    assert second.get_json("k3") is None and second.get_json("n79") == -79
    second.close()


def test_cache_entries_and_journal_lines_are_the_canonical_json_of_what_they_hold(tmp_path: Path) -> None:
    import json

    from typedflow.ir.canonical import canonical_json
    from typedflow.runtime.running import RunOptions, run_workflow

    from . import flows

    # fanout: map items of add(inc(v), v) = 2v + 1, several outputs (stats returns a NamedTuple with an int and a float)
    result = run_workflow(flows.fanout, {"xs": [3, 1, 2]}, RunOptions(store=tmp_path))
    assert result.ok
    meta = (tmp_path / "store" / "meta.jsonl").read_bytes().splitlines()
    journal = (tmp_path / "runs" / result.run_id / "journal.jsonl").read_bytes().splitlines()
    assert len(meta) == len(journal) - 1 == 7  # 3 inc, 3 add, 1 stats: each ran, each cached; the run's end
    for line in meta + journal:
        assert line == canonical_json(json.loads(line)).encode("ascii")
    assert json.loads(journal[-1])["key"] == "$run" and json.loads(journal[-1])["outputs"] == {"mean": 5.0, "total": 15}
    entries = {json.loads(line)["v"]["task"] for line in meta}
    assert entries == {"inc", "add", "stats"}
    stats_line = next(e for e in map(json.loads, journal[:-1]) if "mean" in e["outputs"])
    assert stats_line["outputs"] == {"mean": 5.0, "total": 15} and stats_line["status"] == "succeeded"


def test_an_entry_torn_by_a_killed_writer_does_not_swallow_the_entries_written_after_it(tmp_path: Path) -> None:
    # A SIGKILL can cut a write of several pages short: a group of entries then ends in a line
    # without its end, which the next write to the file must not continue.
    torn = b'{"k":"torn","v":{"outputs":{"out":[1,2'
    first = LocalStore(tmp_path, buffered=True)
    first.put_json("a", {"x": 1})
    first.close()
    with open(tmp_path / "meta.jsonl", "ab") as f:
        f.write(torn)
    second = LocalStore(tmp_path, buffered=True)  # a process started after the kill
    second.put_json("b", {"y": 2})
    second.write_buffered()
    with open(tmp_path / "meta.jsonl", "ab") as f:  # and one already writing when another was killed
        f.write(torn)
    second.put_json("c", 3)
    second.close()
    reader = LocalStore(tmp_path)
    assert (reader.get_json("a"), reader.get_json("b"), reader.get_json("c")) == ({"x": 1}, {"y": 2}, 3)
    assert reader.get_json("torn") is None
