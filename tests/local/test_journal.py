"""The run journal: lines reach the page cache as nodes finish (through a shared mapping), a killed
writer's lines are all read back, and the end of a run leaves exactly the lines."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typedflow.backends.local import journal as journal_mod
from typedflow.backends.local.journal import Journal

from typedflow.ir.canonical import canonical_json


def _new(tmp_path: Path) -> Journal:
    run = tmp_path / "run"
    run.mkdir()
    return Journal(run)


def test_lines_are_in_the_file_at_once_and_close_cuts_the_allocation(tmp_path: Path) -> None:
    j = _new(tmp_path)
    j.record("a", {"out": 1}, "succeeded")
    j.record("b[0]/c", {"out": "\u00e9"}, "cached")
    raw = j.path.read_bytes()  # another process's view, before close
    assert len(raw) == journal_mod.CHUNK and raw.rstrip(b"\0").count(b"\n") == 2
    assert set(Journal(j.dir).finished()) == {"a", "b[0]/c"}
    j.close()
    lines = j.path.read_bytes().splitlines(keepends=True)
    assert [json.loads(line) for line in lines] == [
        {"key": "a", "outputs": {"out": 1}, "status": "succeeded"},
        {"key": "b[0]/c", "outputs": {"out": "\u00e9"}, "status": "cached"},
    ]
    assert b"".join(lines) == j.path.read_bytes() and lines[-1].endswith(b"\n")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(st.text(), st.dictionaries(st.text(), _json, max_size=3), st.sampled_from(["succeeded", "cached"]))
def test_a_line_is_the_canonical_json_of_its_entry(
    tmp_path_factory: pytest.TempPathFactory, key: str, outputs: dict[str, object], status: str
) -> None:
    j = _new(tmp_path_factory.mktemp("j"))
    j.record(key, outputs, status)
    j.close()
    expected = canonical_json({"key": key, "outputs": outputs, "status": status}) + "\n"
    assert j.path.read_bytes() == expected.encode("ascii")


def test_the_mapping_grows_past_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_mod, "CHUNK", 256)
    j = _new(tmp_path)
    for i in range(100):
        j.record(f"n{i}", {"out": i}, "succeeded")
    assert list(Journal(j.dir).finished()) == [f"n{i}" for i in range(100)]
    j.close()
    assert [json.loads(line)["outputs"]["out"] for line in j.path.read_bytes().splitlines()] == list(range(100))


def test_a_killed_writers_lines_survive_and_a_resumed_run_appends_after_them(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from typedflow.backends.local.journal import Journal
        j = Journal(Path({str(run)!r}))
        for i in range(50):
            j.record(f"n{{i}}", {{"out": i}}, "succeeded")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    j = Journal(run)
    assert list(j.finished()) == [f"n{i}" for i in range(50)]
    assert j.path.read_bytes().endswith(b"\0")  # killed: the allocation was never cut
    j.repair()
    assert not j.path.read_bytes().endswith(b"\0") and list(j.finished()) == [f"n{i}" for i in range(50)]
    j.record("n50", {"out": 50}, "succeeded")
    j.close()
    assert [json.loads(line)["key"] for line in j.path.read_bytes().splitlines()] == [f"n{i}" for i in range(51)]


def test_a_torn_line_is_dropped_and_leaves_nothing_behind_a_shorter_one(tmp_path: Path) -> None:
    j = _new(tmp_path)
    whole = b'{"key":"a","outputs":{"out":1},"status":"succeeded"}\n'
    j.path.write_bytes(whole + b'{"key":"b","outputs":{"out":22222222222' + b"\0" * 100)
    assert list(j.finished()) == ["a"]
    j.record("c", {}, "succeeded")  # shorter than the torn fragment; no repair() first
    j.close()
    assert j.path.read_bytes() == whole + b'{"key":"c","outputs":{},"status":"succeeded"}\n'


def test_a_full_disk_is_an_error_before_the_line_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    j = _new(tmp_path)
    with pytest.raises(OSError, match="No space"):
        j.record("a", {"out": 1}, "succeeded")


def test_a_file_system_that_cannot_allocate_ahead_gets_a_sized_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    j = _new(tmp_path)
    j.record("a", {"out": 1}, "succeeded")
    assert os.path.getsize(j.path) == journal_mod.CHUNK and list(Journal(j.dir).finished()) == ["a"]
    j.close()
    assert j.path.read_bytes() == b'{"key":"a","outputs":{"out":1},"status":"succeeded"}\n'
