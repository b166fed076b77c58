"""The append-only log: chaining, group commit, head file, crash repair, concurrent writers."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from typedflow.lineage import (
    LineageIntegrityError,
    LineageLog,
    LineageRepairWarning,
    record_hash,
    verify_log,
)
from typedflow.lineage._chain import read_head
from typedflow.lineage.record import GENESIS_HASH


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def test_append_assigns_seq_and_chains(tmp_path, make_record) -> None:
    path = tmp_path / "log.jsonl"
    recs = [make_record(i) for i in range(25)]
    with LineageLog(path, flush_every=10) as log:
        for r in recs:
            log.append(r)
        assert log.pending == 5  # two groups of 10 committed, 5 buffered
        assert len(_lines(path)) == 20
    prev = GENESIS_HASH
    with LineageLog(path) as log:
        got = list(log.records())
    for i, (rec, h) in enumerate(got):
        assert rec.seq == i
        assert rec.prev_hash == prev
        assert record_hash(rec) == h
        assert rec.log_origin == str(path.absolute())
        assert attrs.evolve(rec, seq=-1, prev_hash="", log_origin="") == recs[i]
        prev = h
    head = read_head(path)
    assert head is not None and (head.seq, head.hash, head.count) == (24, prev, 25)
    assert verify_log(path).ok


def test_no_edit_or_delete_api() -> None:
    public = {n for n in dir(LineageLog) if not n.startswith("_")}
    assert public == {
        "append",
        "append_prepared",
        "write_buffered",
        "flush",
        "close",
        "records",
        "head",
        "pending",
        "origin",
    }


def test_flush_returns_count_and_close_is_final(tmp_path, make_record) -> None:
    log = LineageLog(tmp_path / "log.jsonl", flush_every=1000)
    log.append(make_record())
    log.append(make_record())
    assert log.flush() == 2
    assert log.flush() == 0
    log.close()
    log.close()
    with pytest.raises(ValueError):
        log.append(make_record())


def test_group_commits_are_complete_after_close(tmp_path, make_record) -> None:
    path = tmp_path / "log.jsonl"
    with LineageLog(path, flush_every=10) as log:
        for i in range(1000):
            log.append(make_record(i))
    result = verify_log(path)
    assert result.ok and result.count == 1000
    assert log.commits >= 1


def _thirty_in_groups(path: Path, make_record, monkeypatch, head_interval: float) -> LineageLog:
    import typedflow.lineage.log as log_module

    monkeypatch.setattr(log_module, "HEAD_INTERVAL", head_interval)
    log = LineageLog(path, flush_every=10)
    for i in range(30):
        log.append(make_record(i))
    return log


def test_head_lags_group_commits_until_flush(tmp_path, make_record, monkeypatch) -> None:
    path = tmp_path / "log.jsonl"
    log = _thirty_in_groups(path, make_record, monkeypatch, 3600.0)
    head = read_head(path)
    assert head is not None and head.seq == 9  # a new log gets its head with the first group
    result = verify_log(path)
    assert result.ok and result.count == 30 and "behind" in result.warnings[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a lagging head is not a repair: no warning for another writer
        other = LineageLog(path)
        other.append(make_record(99))
        other.close()
    assert (head := read_head(path)) is not None and head.seq == 30
    log.append(make_record(31))
    log.flush()
    head = read_head(path)
    assert head is not None and head.seq == 31 and verify_log(path).ok and not verify_log(path).warnings
    log.close()


def test_head_follows_commits_every_interval(tmp_path, make_record, monkeypatch) -> None:
    path = tmp_path / "log.jsonl"
    log = _thirty_in_groups(path, make_record, monkeypatch, 0.0)
    assert (head := read_head(path)) is not None and head.seq == 29
    log.close()


def test_flush_returns_after_the_log_is_fsynced(tmp_path, make_record, monkeypatch) -> None:
    import threading

    events: list[tuple[str, int]] = []
    lock = threading.Lock()
    real_write, real_sync = os.write, os.fdatasync

    def write(fd, data):
        n = real_write(fd, data)
        with lock:
            events.append(("write", fd))
        return n

    def fdatasync(fd):
        real_sync(fd)
        with lock:
            events.append(("sync", fd))

    log = LineageLog(tmp_path / "log.jsonl", flush_every=10)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    fd = log._fd
    for round_ in range(3):
        for i in range(25):
            log.append(make_record(i))
        log.flush()
        with lock:
            log_events = [kind for kind, f in events if f == fd]
        last_write = len(log_events) - 1 - log_events[::-1].index("write")
        assert "sync" in log_events[last_write + 1 :], f"round {round_}: flush returned before an fdatasync"
    assert log.fsyncs >= 3
    log.close()


def test_write_buffered_hands_records_to_the_os_and_flush_makes_them_durable(tmp_path, make_record) -> None:
    path = tmp_path / "log.jsonl"
    log = LineageLog(path, flush_every=100)
    log.append(make_record(0))
    log.flush()  # the head exists: later commits need not write it
    for i in range(1, 4):
        log.append(make_record(i))
    assert len(_lines(path)) == 1  # buffered: a process killed now would lose three records
    assert log.write_buffered() == 3
    assert len(_lines(path)) == 4 and log.pending == 0  # in the file, chained, for any reader
    result = verify_log(path)
    assert result.ok and result.count == 4 and "behind" in result.warnings[0]
    assert log.write_buffered() == 0
    log.flush()  # durable, and the head is current
    assert (head := read_head(path)) is not None and head.seq == 3 and log._durable == 3
    assert verify_log(path).ok and not verify_log(path).warnings
    log.close()


def test_write_buffered_does_not_wait_behind_the_disk(tmp_path, make_record, monkeypatch) -> None:
    import threading

    log = LineageLog(tmp_path / "log.jsonl", flush_every=5)
    log.append(make_record(0))
    log.flush()
    release = threading.Event()
    real_sync = os.fdatasync

    def slow(fd):
        release.wait(10)
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", slow)
    for i in range(10):  # two groups: the first one's fdatasync is held, the second waits behind it
        log.append(make_record(i))
    t0 = time.monotonic()
    for i in range(3):
        log.append(make_record(i))
        log.write_buffered()  # a third group while one waits: written, not blocked
    assert time.monotonic() - t0 < 5
    assert len(_lines(tmp_path / "log.jsonl")) == 14
    release.set()
    log.close()
    assert log._durable == 13
    assert verify_log(tmp_path / "log.jsonl").ok


def test_a_new_logs_first_head_is_not_waited_for_and_close_makes_it_durable(tmp_path, make_record, monkeypatch) -> None:
    import threading

    path = tmp_path / "log.jsonl"
    release = threading.Event()
    synced: list[int] = []
    real_sync = os.fdatasync

    def slow(fd):
        release.wait(10)
        real_sync(fd)
        synced.append(fd)

    monkeypatch.setattr(os, "fdatasync", slow)
    log = LineageLog(path, flush_every=100)
    log.append(make_record(0))
    t0 = time.monotonic()
    assert log.write_buffered() == 1
    assert time.monotonic() - t0 < 5  # the disk is held: nothing above waited for it
    head = read_head(path)
    assert head is not None and head.seq == 0  # a run killed now leaves a log that verifies
    assert verify_log(path).ok and not synced
    release.set()
    log.close()
    assert synced and log._durable == 0 and log._head_synced
    assert verify_log(path).ok and not verify_log(path).warnings


def test_close_makes_a_new_logs_first_head_durable_with_nothing_left_to_commit(
    tmp_path, make_record, monkeypatch
) -> None:
    import typedflow.lineage.log as log_module

    monkeypatch.setattr(log_module, "SYNC_INTERVAL", 3600.0)
    path = tmp_path / "log.jsonl"
    log = LineageLog(path, flush_every=100)
    log.append(make_record(0))
    log.append(make_record(1))
    log.write_buffered()  # the first head, not yet durable; the sync thread's first fdatasync may run
    assert not log._head_synced
    syncs: list[str] = []
    real_datasync, real_fsync = os.fdatasync, os.fsync

    def fdatasync(fd: int) -> None:
        syncs.append("fdatasync")
        real_datasync(fd)

    def fsync(fd: int) -> None:
        syncs.append("fsync")
        real_fsync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    log.close()
    # the log, then the head rewritten durably (its file and its directory)
    assert syncs[0] == "fdatasync" and syncs.count("fsync") >= 2, syncs
    assert log._head_synced and read_head(path).seq == 1 and verify_log(path).ok


def test_background_fdatasyncs_are_paced(tmp_path, make_record, monkeypatch) -> None:
    import threading

    import typedflow.lineage.log as log_module

    monkeypatch.setattr(log_module, "SYNC_INTERVAL", 3600.0)
    log = LineageLog(tmp_path / "log.jsonl", flush_every=100)
    log.append(make_record(0))
    log.flush()
    fd, lock, syncs = log._fd, threading.Lock(), []
    real = os.fdatasync

    def counted(f):
        real(f)
        with lock:
            syncs.append(f)

    monkeypatch.setattr(os, "fdatasync", counted)
    for _group in range(5):
        for i in range(3):
            log.append(make_record(i))
        log.write_buffered()
        time.sleep(0.05)
    # the first group's fdatasync starts at once; the next ones wait for the interval (each
    # would stall every appending write on the file system while it runs)
    assert syncs.count(fd) == 1 and log._durable == 3
    log.close()
    assert log._durable == 15 and syncs.count(fd) == 2
    assert verify_log(tmp_path / "log.jsonl").ok


def test_each_group_starts_its_write_back_and_advice_that_fails_is_ignored(tmp_path, make_record, monkeypatch) -> None:
    advised: list[tuple[int, int, int]] = []

    def fadvise(fd, offset, length, advice):
        assert advice == os.POSIX_FADV_DONTNEED
        advised.append((fd, offset, length))
        raise OSError(22, "Invalid argument")  # e.g. a file system without it: advice only

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    path = tmp_path / "log.jsonl"
    log = LineageLog(path, flush_every=10)
    for i in range(25):
        log.append(make_record(i))
    log.close()
    assert verify_log(path).ok and verify_log(path).count == 25
    sizes = [length for fd, _, length in advised if fd == log._fd and length]
    offsets = [offset for fd, offset, length in advised if fd == log._fd and length]
    assert len(sizes) == 3 and sum(sizes) == path.stat().st_size  # the three groups, each once
    assert offsets == [0, sizes[0], sizes[0] + sizes[1]]
    advised.clear()
    quiet = LineageLog(tmp_path / "quiet.jsonl", flush_every=10, fsync=False)
    for i in range(12):
        quiet.append(make_record(i))
    quiet.close()
    assert advised == []  # no durability asked for: no write-back started either


def test_failed_background_fsync_poisons_the_log(tmp_path, make_record, monkeypatch) -> None:
    log = LineageLog(tmp_path / "log.jsonl", flush_every=10)
    log.append(make_record(0))
    log.flush()  # the head exists: later groups are synced by the sync thread

    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    for i in range(10):
        log.append(make_record(i))
    deadline = time.monotonic() + 10
    while log._sync_error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(LineageIntegrityError, match="fdatasync failed"):
        log.flush()
    with pytest.raises(LineageIntegrityError):
        log.close()
    with pytest.raises(ValueError):
        log.append(make_record(2))


def test_reopen_continues_the_chain(small_log, make_record) -> None:
    with LineageLog(small_log) as log:
        assert log.head.seq == 19
        log.append(make_record(99))
    result = verify_log(small_log)
    assert result.ok and result.count == 21


def test_torn_fragment_is_set_aside_on_open(small_log, make_record) -> None:
    complete = small_log.read_bytes()
    fragment = b'{"attempt":0,"cache_key":null,"code_di'
    with open(small_log, "ab") as f:
        f.write(fragment)
    assert verify_log(small_log).warnings  # a fragment beyond the head is crash debris
    with pytest.warns(LineageRepairWarning):
        log = LineageLog(small_log)
    assert [t.size for t in log.repaired] == [len(fragment)]
    assert log.repaired[0].path.read_bytes() == fragment
    assert small_log.read_bytes() == complete
    log.append(make_record(5))
    log.close()
    assert verify_log(small_log).ok


def test_unparseable_last_line_beyond_head_is_torn(small_log) -> None:
    with open(small_log, "ab") as f:
        f.write(b"\x00" * 40 + b"\n")
    with pytest.warns(LineageRepairWarning):
        log = LineageLog(small_log, signer=None)
    assert log.repaired[0].size == 41
    log.close()
    # A replaced tail is set aside so the log can go on, but it stays a failure: nothing signed
    # the repaired state.
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.line, result.failure.seq) == ("repaired", 20, 19)
    assert "tail-cut" in result.failure.detail


def _peak(fn: Callable[[], object]) -> tuple[object, int]:
    """What ``fn`` returns or raises, and the most memory Python held meanwhile."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            result: object = fn()
        except Exception as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_last_line_longer_than_any_record_is_refused_without_being_read_whole(small_log) -> None:
    from typedflow.lineage.verify_bundle import MAX_LINE

    with open(small_log, "r+b") as f:  # a hole of NULs: written at once
        end = f.seek(0, 2)
        f.seek(end + 2 * MAX_LINE)
        f.write(b"\n")
    before = small_log.read_bytes()
    started = time.monotonic()
    raised, peak = _peak(lambda: LineageLog(small_log, signer=None))
    assert isinstance(raised, LineageIntegrityError), raised  # not a torn write: never set aside
    assert str(raised) == (
        f"{small_log}: the line ending at byte {end + 2 * MAX_LINE} is longer than {MAX_LINE:,} bytes, "
        "more than any record holds"
    )
    assert peak < 1.5 * MAX_LINE and time.monotonic() - started < 2, peak  # gathered once, not whole
    assert small_log.read_bytes() == before and not list(small_log.parent.glob("*.torn-*"))


def test_a_long_torn_fragment_is_set_aside_a_piece_at_a_time(small_log) -> None:
    from typedflow.lineage.verify_bundle import MAX_LINE

    complete = small_log.read_bytes()
    with open(small_log, "r+b") as f:
        f.truncate(len(complete) + 2 * MAX_LINE)
    with pytest.warns(LineageRepairWarning):
        log, peak = _peak(lambda: LineageLog(small_log, signer=None))
    assert isinstance(log, LineageLog), log
    log.close()
    assert [t.size for t in log.repaired] == [2 * MAX_LINE] and log.repaired[0].path.stat().st_size == 2 * MAX_LINE
    assert small_log.read_bytes() == complete
    assert peak < MAX_LINE // 4, peak


def test_corrupt_committed_record_is_not_repaired(small_log) -> None:
    lines = _lines(small_log)
    lines[-1] = lines[-1][:-5]  # the record the head names becomes unparseable
    small_log.write_bytes(b"\n".join(lines) + b"\n")
    before = small_log.read_bytes()
    with pytest.raises(LineageIntegrityError):
        LineageLog(small_log)
    assert small_log.read_bytes() == before  # nothing is changed when the log is inconsistent
    assert not list(small_log.parent.glob("*.torn-*"))


def test_stale_head_rolls_forward(small_log) -> None:
    lines = _lines(small_log)
    # Commits after the last head update (or a crash before it) leave the head behind: normal, no warning.
    import hashlib

    stale = {"count": 18, "hash": hashlib.sha256(lines[17]).hexdigest(), "seq": 17}
    (small_log.parent / "log.jsonl.head").write_text(json.dumps(stale))
    result = verify_log(small_log)
    assert result.ok and result.warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LineageLog(small_log).close()
    head = read_head(small_log)
    assert head is not None and head.seq == 19


def test_head_ahead_of_log_refuses_to_open(small_log) -> None:
    lines = _lines(small_log)
    small_log.write_bytes(b"\n".join(lines[:-2]) + b"\n")
    with pytest.raises(LineageIntegrityError, match="missing"):
        LineageLog(small_log)


def test_missing_head_is_recreated(small_log) -> None:
    (small_log.parent / "log.jsonl.head").unlink()
    assert (failure := verify_log(small_log).failure) is not None and failure.reason == "head-missing"
    with pytest.warns(LineageRepairWarning, match="missing"):
        LineageLog(small_log, signer=None).close()
    # Recreating the head lets the log go on; verification keeps saying it happened.
    result = verify_log(small_log)
    assert not result.ok and result.failure is not None
    assert (result.failure.reason, result.failure.seq) == ("repaired", 19)
    assert "head-recreated" in result.failure.detail


def test_write_failure_leaves_no_partial_group(tmp_path, make_record, monkeypatch) -> None:
    path = tmp_path / "log.jsonl"
    log = LineageLog(path, flush_every=1000)
    log.append(make_record(0))
    log.flush()
    size = path.stat().st_size
    real_fsync = os.fdatasync

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    log.append(make_record(1))
    monkeypatch.setattr(os, "fdatasync", failing_fsync)
    with pytest.raises(OSError):
        log.flush()
    monkeypatch.setattr(os, "fdatasync", real_fsync)
    assert path.stat().st_size == size  # the group was cut off again
    assert log.pending == 1  # and is retried on the next flush
    assert log.flush() == 1
    log.close()
    result = verify_log(path)
    assert result.ok and result.count == 2


_WRITER = """
import os, sys, time
from typedflow.lineage import LineageLog, new_record
path, tag, n, every, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
open(path + ".ready-" + tag, "w").close()
while go and not os.path.exists(go):  # start together with the other writer
    time.sleep(0.001)
with LineageLog(path, flush_every=every) as log:
    i = 0
    while n < 0 or i < n:
        log.append(new_record("task", run_id=tag, workflow="wf", ir_digest="sha256:" + "a" * 64,
            target="local", executor="process", status="succeeded", node_id=f"{tag}-{i}",
            parameters={"i": i}))
        i += 1
"""


def test_crash_mid_append_then_repair(tmp_path, python, subprocess_env) -> None:
    path = tmp_path / "log.jsonl"
    proc = subprocess.Popen([python, "-c", _WRITER, str(path), "crash", "-1", "3", ""], env=subprocess_env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 50_000):
            time.sleep(0.01)
        assert path.exists() and path.stat().st_size >= 50_000, "writer made no progress"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The kill may or may not land inside a write; add a torn fragment so repair always has work.
    fragment = b'{"attempt":0,"cache_key":null,"code_digest":null,"ended_at":"2026-'
    with open(path, "ab") as f:
        f.write(fragment)
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    with pytest.warns(LineageRepairWarning):
        log = LineageLog(path)
    log.close()
    assert len(log.repaired) == 1
    torn = log.repaired[0].path.read_bytes()
    assert torn.endswith(fragment) and b"\n" not in torn
    assert path.read_bytes() == complete  # every complete record kept, only the fragment removed
    result = verify_log(path)
    assert result.ok, result.summary()
    assert result.count == complete.count(b"\n") > 0


def test_two_processes_append_one_chain(tmp_path, python, subprocess_env) -> None:
    path = tmp_path / "log.jsonl"
    n = 600
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([python, "-c", _WRITER, str(path), tag, str(n), "5", str(go)], env=subprocess_env)
        for tag in ("alpha", "beta")
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("log.jsonl.ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()
    for p in procs:
        assert p.wait(timeout=60) == 0
    result = verify_log(path, deep=True)
    assert result.ok, result.summary()
    assert result.count == 2 * n
    with LineageLog(path) as log:
        records = [r for r, _ in log.records()]
    for tag in ("alpha", "beta"):
        mine = [r.node_id for r in records if r.run_id == tag]
        assert mine == [f"{tag}-{i}" for i in range(n)]  # each writer's order is kept
    runs = [r.run_id for r in records]
    switches = sum(1 for a, b in itertools.pairwise(runs) if a != b)
    assert switches >= 2  # the writers really interleaved


def test_fork_child_gets_its_own_descriptor(tmp_path, make_record) -> None:
    path = tmp_path / "log.jsonl"
    log = LineageLog(path, flush_every=1000)
    log.append(make_record(0))  # buffered in the parent only
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            log.append(make_record(1))
            log.close()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.close()
    with LineageLog(path) as again:
        names = [r.node_id for r, _ in again.records()]
    assert sorted(names, key=str) == ["n0", "n1"]
    assert verify_log(path).ok


@pytest.mark.parametrize("content", [b"garbage without a newline", b"\x00" * 32 + b"x", b"not json" + b'{"attempt"'])
def test_an_end_that_cannot_be_a_torn_record_fails_verification(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(content)
    result = verify_log(path)
    assert not result.ok and result.failure is not None
    assert "not the start of a record" in result.failure.detail


@pytest.mark.parametrize("fragment", [b"{", b'{"attempt":0,"cache', b"\x00" * 40])
def test_an_end_that_may_be_a_torn_record_is_a_warning(small_log: Path, fragment: bytes) -> None:
    with open(small_log, "ab") as f:
        f.write(fragment)
    result = verify_log(small_log)
    assert result.ok and any("trailing partial line" in w for w in result.warnings)
