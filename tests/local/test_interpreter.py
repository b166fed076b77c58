"""The local interpreter runs the IR: parity with plain Python, blocks, retries, failures, caching."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typedflow.backends.local.retry import Clock

from tests.local import flows
from tests.support import dags
from typedflow.errors import InputError, WorkflowFailedError
from typedflow.runtime.running import RunOptions, RunResult, run_workflow


@pytest.fixture(autouse=True)
def counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "counters"
    monkeypatch.setattr(flows, "COUNTER_DIR", d)
    return d


def run(wf: Any, store: Path, **inputs: Any) -> RunResult:
    opts = inputs.pop("_options", {})
    return run_workflow(wf, inputs, RunOptions(store=store, **opts))


def test_diamond_and_values(store: Path) -> None:
    r = run(flows.diamond, store, x=3)
    assert r.ok and r.value == 5 + 7 == flows.diamond.fn(x=3)
    assert r.outputs == {"out": 12}
    assert {n.key for n in r.nodes} == {"inc", "inc-2", "add", "add-2"}


def test_map_over_with_fan_in_and_namedtuple(store: Path) -> None:
    r = run(flows.fanout, store, xs=[1, 2, 3, 4, 5])
    assert r.value == flows.Stats(total=35, mean=7.0)
    assert r.outputs == {"total": 35, "mean": 7.0}
    assert sum(1 for n in r.nodes if n.key.startswith("map[")) == 10


def test_when_otherwise_on_actual_values(store: Path) -> None:
    big = run(flows.branches, store, x=10)
    assert big.value == 111
    small = run(flows.branches, store, x=1)
    assert small.value is None
    statuses = {n.key: n.status for n in small.nodes}
    assert statuses["add"] == "skipped" and statuses["inc-2"] == "succeeded"


def test_subworkflow_inline(store: Path) -> None:
    r = run(flows.outer, store, x=8)
    assert r.value == 2.0
    assert "inner/stats_of" in {n.key for n in r.nodes}


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_positional_only_parameters_are_given_by_position(store: Path, isolation: str) -> None:
    # a task's positional-only parameter cannot be passed by name: the run gives what plain Python gives
    r = run(flows.positional_only, store, x=1.5, _options={"isolation": isolation})
    assert r.ok, r.failures
    assert r.value == flows.scaled.fn(flows.scaled.fn(1.5, 4.0, shift=1.0), shift=0.5) == 14.5


def test_files_are_content_addressed_and_read_only(store: Path) -> None:
    r = run(flows.files, store, n=4)
    assert r.value == 4 + 2
    csv = next(n for n in r.nodes if n.task == "write_csv").outputs["out"]
    path = Path(csv["uri"])
    assert path.is_relative_to(store / "store") and path.name == csv["sha256"]
    assert csv["format"] == "typedflow.formats:CSV"
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    from typedflow import TypedFile

    with pytest.raises(PermissionError):
        TypedFile(uri=csv["uri"], sha256=csv["sha256"]).open("w")


def test_independent_tasks_overlap(store: Path) -> None:
    r = run(flows.overlap, store, seconds=0.3, _options={"max_workers": 4})
    spans = r.value
    assert len(spans) == 4
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    assert latest_start < earliest_end, spans  # all four were running at the same moment


def _items_in_progress(
    wf: Any, store: Path, xs: list[int], inputs: dict[str, Any] | None = None, **opts: Any
) -> tuple[RunResult, int]:
    """The run, and the most map items it had started and not finished at any moment."""
    import re

    started: set[str] = set()
    done = 0
    most = 0

    def listen(rep: Any) -> None:
        nonlocal done, most
        if rep.status == "running" and (m := re.match(r"([\w-]+\[\d+\])/", rep.key)):
            started.add(m.group(1))
        elif rep.status in ("item", "item-failed"):
            done += 1
        most = max(most, len(started) - done)

    r = run_workflow(wf, {"xs": xs, **(inputs or {})}, RunOptions(store=store, listener=listen, **opts))
    return r, most


def test_map_max_concurrency_respected(store: Path, counters: Path) -> None:
    r, most = _items_in_progress(flows.fanout, store, list(range(12)), max_workers=8)
    assert r.ok and r.value == flows.fanout.fn(xs=list(range(12)))
    assert 1 < most <= 3  # fanout's map_over(..., max_concurrency=3)


def test_a_long_map_starts_its_items_a_window_at_a_time(store: Path) -> None:
    from typedflow.backends.local.interpreter import MAP_WINDOW

    xs = list(range(3 * MAP_WINDOW))
    r, most = _items_in_progress(flows.fanout, store / "a", xs, max_workers=2)
    assert r.ok and r.value == flows.fanout.fn(xs=xs)
    assert most <= 3  # still its max_concurrency
    # Tasks that take a while: a window of items ahead of the 2 workers, not all of them at once.
    r, most = _items_in_progress(flows.sleepies, store / "b", xs, {"seconds": 0.002}, max_workers=2)
    assert r.ok and r.value == xs
    assert MAP_WINDOW // 2 < most <= MAP_WINDOW
    # Quick tasks run on the scheduler's thread, still a window at a time.
    r, most = _items_in_progress(flows.incs, store / "c", xs, max_workers=2)
    assert r.ok and r.value == [x + 1 for x in xs] and r.cache_hits == 0
    assert most <= MAP_WINDOW


def _left_behind(r: RunResult, store: Path) -> dict[str, Any]:
    """What a run leaves that must not depend on how its items were scheduled (outputs, node reports,
    journal lines, lineage records), without times, record ids, tracebacks and order."""
    import json

    from typedflow.lineage.query import iter_records

    nodes = sorted(
        (n.key, n.status, n.attempts, json.dumps(n.outputs, sort_keys=True), n.error_type, n.message, n.cache_key)
        for n in r.nodes
    )
    lines = [json.loads(line) for line in (r.run_dir / "journal.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("duration", None)  # the run's end line: times
        line.pop("ended", None)
    records = sorted(
        (
            rec.node_id,
            rec.status,
            rec.attempt,
            tuple(i.digest for i in rec.inputs),
            tuple(o.digest for o in rec.outputs),
            json.dumps(rec.parameters, sort_keys=True),
            rec.cache_key,
            rec.error,
        )
        for rec, _ in iter_records(store / "lineage" / "log.jsonl")
        if rec.kind == "task"
    )
    return {
        "status": r.status,
        "outputs": r.outputs,
        "nodes": nodes,
        "journal": sorted(json.dumps(line, sort_keys=True) for line in lines),
        "records": records,
    }


@settings(max_examples=20, deadline=None)
@given(xs=st.lists(st.integers(0, 40), max_size=24, unique=True))  # unique: see below
def test_quick_map_items_leave_what_the_general_way_leaves(
    tmp_path_factory: pytest.TempPathFactory, xs: list[int]
) -> None:
    # Items of a one-task map whose task is known to be quick run one after another on the scheduler's
    # thread; with nothing counted as quick, every item goes to the worker threads. Failures, retries
    # (the retry runs on a worker) and the run's end are the same either way. (Two items with the same
    # inputs may differ: run one after another, the second is a cache hit.)
    import shutil

    from typedflow.backends.local import placement

    left, threads = [], []
    base = tmp_path_factory.mktemp("quirks")
    marks = base / "marks"  # the same input in both runs
    for quick in (True, False):
        tmp = base / ("quick" if quick else "general")
        shutil.rmtree(marks, ignore_errors=True)
        marks.mkdir()
        with pytest.MonkeyPatch.context() as mp:
            # As if timed quick (or slow) from the start: timing depends on the machine's load.
            mp.setattr(placement.Placement, "quick", lambda self, template, quick=quick: quick)
            r = run_workflow(flows.quirks, {"xs": xs, "marks": str(marks)}, RunOptions(store=tmp / "s", max_workers=2))
            left.append(_left_behind(r, tmp / "s"))
            runs = sorted(
                (int(p.name.split("-")[0]), int(p.name.split("-")[1]), p.read_text()) for p in marks.iterdir()
            )
            threads.append({x: [t for y, _, t in runs if y == x] for x in xs})  # per item, its executions' threads
            # Again on the same store: what succeeded is a cache hit, what failed runs (and fails) again.
            again = run_workflow(
                flows.quirks, {"xs": xs, "marks": str(marks)}, RunOptions(store=tmp / "s", max_workers=2)
            )
            left.append(_left_behind(again, tmp / "s"))
            assert again.cache_hits == sum(x % 5 != 0 for x in xs)
    assert left[0] == left[2] and left[1] == left[3]
    assert left[0]["status"] == ("failed" if any(x % 5 == 0 for x in xs) else "succeeded")
    import threading

    scheduler = threading.current_thread().name
    for quick_run in threads:  # x % 5 == 1 is executed twice: its first attempt fails
        assert all(len(quick_run[x]) == (2 if x % 5 == 1 else 1) for x in xs)
    for x in xs:  # known as quick: run on the scheduler's thread
        first, *retried = threads[0][x]
        assert first == scheduler and scheduler not in retried, (x, threads[0])  # a retry waits on a worker


def test_a_resumed_map_of_quick_items_runs_only_the_unfinished_ones(tmp_path: Path) -> None:
    import json

    xs = list(range(100))
    first = run_workflow(flows.incs, {"xs": xs}, RunOptions(store=tmp_path))
    journal = first.run_dir / "journal.jsonl"
    kept = journal.read_bytes().splitlines(keepends=True)[:40]  # as if killed after 40 items, before its end
    journal.write_bytes(b"".join(kept))
    finished = {json.loads(line)["key"] for line in kept}
    again = run_workflow(flows.incs, {"xs": xs}, RunOptions(store=tmp_path, resume=first.run_id, use_cache=False))
    assert again.ok and again.value == [x + 1 for x in xs]
    assert {n.key for n in again.nodes if n.reason == "resumed"} == finished
    assert {n.status for n in again.nodes if n.key not in finished} == {"succeeded"}
    lines = [json.loads(line) for line in journal.read_bytes().splitlines()]
    assert len({line["key"] for line in lines[:-1]}) == len(lines) - 1 == len(xs)  # one line per item, then the end


def test_map_of_one_task_resolves_each_kind_of_argument(store: Path) -> None:
    pts = [flows.Pt(a, b) for a, b in [(5, 1), (0, 7), (3, 3)]]
    r = run(flows.weighed, store, pts=pts, scale=4)
    assert r.ok and r.value == flows.weighed.fn(pts=pts, scale=4) == [24, -20, 8]
    items = sorted((n for n in r.nodes if n.task == "weigh"), key=lambda n: n.key)
    assert [n.key for n in items] == ["map[0]/weigh", "map[1]/weigh", "map[2]/weigh"]
    assert items[1].inputs == {"a": 0, "b": 7, "base": 5, "k": 3, "scale": 4}
    # The same map nested in a sub-workflow that is itself a map's body: item and upstream output
    # come from the innermost map and its own environment.
    rows = [pts, [flows.Pt(1, 0)], []]
    nested = run(flows.weighed_rows, store, rows=rows)
    assert nested.ok and nested.value == [flows.weighed.fn(pts=row, scale=2) for row in rows] == [[14, -8, 6], [8], []]
    # An item that fails fails its map, and what reads the map is skipped; the other items still run.
    bad = run(flows.weighed, store, pts=[flows.Pt(1, 0), flows.Pt(-1, 0)], scale=1, _options={"use_cache": False})
    assert not bad.ok
    by_key = {n.key: n for n in bad.nodes}
    assert by_key["map[0]/weigh"].status == "succeeded" and by_key["map[0]/weigh"].outputs == {"out": 6}
    assert by_key["map[1]/weigh"].status == "failed" and by_key["map[1]/weigh"].message == "negative a: -1"


def test_a_block_ends_once_when_its_last_node_settles_at_launch(store: Path) -> None:
    # The `when` (no branch taken) and the empty map finish inside the launch that follows their
    # upstream task: their block must still end once, or the map around it counts an item twice.
    r = run(flows.gated_all, store, xs=[1, 10, 2, 3])
    assert r.ok and r.value == [2, 11, 3, 4]
    statuses = {n.key: n.status for n in r.nodes}
    assert statuses["map[0]/gated/add"] == "skipped" and statuses["map[1]/gated/add"] == "succeeded"
    rows = [[], [flows.Pt(1, 0)], []]
    nested = run(flows.weighed_rows, store, rows=rows)
    assert nested.ok and nested.value == [flows.weighed.fn(pts=row, scale=2) for row in rows] == [[], [8], []]


def test_a_run_learns_which_tasks_are_quick(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from tests.conftest import import_source

    mod = import_source(
        tmp_path,
        """
import threading
import time
from typedflow import map_over, task, workflow
@task(cache=False)
def where(x: int, seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name
@workflow
def wf(xs: list[int], seconds: float) -> list[str]:
    return map_over(lambda x: where(x=x, seconds=seconds), xs)
""",
        name="quick_mod",
    )
    here = threading.current_thread().name  # the scheduler's thread: the caller's
    xs = list(range(40))
    from typedflow.backends.local import placement

    # Fifty times the default: a loaded machine can pause a quick task past a millisecond; 0.2 s stays slow.
    monkeypatch.setattr(placement, "QUICK_SECONDS", 0.05)
    first = run(mod.wf, store, xs=xs, seconds=0.0, _options={"max_workers": 4})
    # Not timed yet: the first items go to the 4 workers; once one is timed, the rest run here.
    assert first.ok and all(n != here for n in first.value[:4]) and all(n == here for n in first.value[4:])
    # A small map (no more items than workers) waits for none of its items on the scheduler.
    small = run(mod.wf, store, xs=xs[:4], seconds=0.0, _options={"max_workers": 4})
    assert small.ok and all(n != here for n in small.value)
    # A slow task never runs here while others wait: it would hold back their dispatch.
    slow = run(mod.wf, store, xs=xs[:12], seconds=0.2, _options={"max_workers": 4})
    assert slow.ok and all(n != here for n in slow.value)
    # The only task, with nothing else running, runs here: waiting for a worker would gain nothing.
    alone = run(mod.wf, store, xs=[1], seconds=0.2, _options={"max_workers": 4})
    assert alone.ok and alone.value == [here]


def test_a_quick_task_that_turns_slow_sends_the_rest_of_its_batch_to_the_workers(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tests.conftest import import_source

    mod = import_source(
        tmp_path,
        """
import threading
import time
from typedflow import map_over, task, workflow
@task(cache=False)
def where(x: int, slow: int) -> str:
    time.sleep(0.3 if x == slow else 0.0)
    return threading.current_thread().name
@workflow
def wf(xs: list[int], slow: int) -> list[str]:
    return map_over(lambda x: where(x=x, slow=slow), xs)
""",
        name="turns_slow_mod",
    )
    here = threading.current_thread().name
    from typedflow.backends.local import placement

    monkeypatch.setattr(placement, "QUICK_SECONDS", 0.05)  # see test_a_run_learns_which_tasks_are_quick
    # Items 4.. are one batch on the scheduler's thread once the first is timed quick; item 20 takes
    # 0.3 s, which its template's estimate learns as it ends, before the batch is settled: the next item
    # goes to a worker instead of waiting behind it here. (Later items may run here again: the quick
    # completions of items 1-3, settled after the batch, bring the moving estimate back down.)
    r = run(mod.wf, store, xs=list(range(40)), slow=20, _options={"max_workers": 4})
    assert r.ok and all(n == here for n in r.value[4:21])
    assert r.value[21] != here


_pts = st.lists(st.builds(flows.Pt, st.integers(0, 9), st.integers(-9, 9)), max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_pts, max_size=5), xs=st.lists(st.integers(-2, 12), max_size=8), cache=st.booleans())
def test_nested_maps_and_untaken_branches_give_what_plain_python_computes(
    store: Path, rows: list[list[flows.Pt]], xs: list[int], cache: bool
) -> None:
    # Random mixes of empty and non-empty inner maps, and of taken and untaken `when` branches, inside
    # maps: the shapes where a node settles inside the launch that follows its upstream task.
    nested = run(flows.weighed_rows, store, rows=rows, _options={"use_cache": cache})
    assert nested.ok and nested.value == [[(p.a - p.b) * 2 + 3 + 3 for p in row] for row in rows]
    gated = run(flows.gated_all, store, xs=xs, _options={"use_cache": cache})
    assert gated.ok and gated.value == [x + 1 for x in xs]
    added = sorted(n.key for n in gated.nodes if n.task == "add" and n.status in ("succeeded", "cached"))
    assert added == sorted(f"map[{i}]/gated/add" for i, x in enumerate(xs) if x + 1 > 5)


class FakeClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def clock(self) -> Clock:
        return Clock(sleep=self.sleeps.append, uniform=lambda a, b: b)


def test_retries_with_backoff_and_injected_clock(store: Path) -> None:
    fake = FakeClock()
    t0 = time.perf_counter()
    r = run(flows.retrying, store, x=2, failures=3, tag="flaky", _options={"clock": fake.clock()})
    assert r.ok and r.value == 20
    assert fake.sleeps == [1.0, 2.0, 3.0]  # exponential, capped at max_delay, full jitter upper bound
    assert time.perf_counter() - t0 < 1.0  # nothing really slept
    assert next(n for n in r.nodes if n.task == "flaky").attempts == 4


def test_retries_exhausted(store: Path) -> None:
    fake = FakeClock()
    r = run(flows.retrying, store, x=2, failures=10, tag="always", _options={"clock": fake.clock()})
    assert not r.ok and r.failures[0].attempts == 4 and "Flaky" in r.failures[0].error_type


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_retry_policy_matches_subclasses_in_each_isolation(
    store: Path, counters: Path, monkeypatch: pytest.MonkeyPatch, isolation: Literal["thread", "process"]
) -> None:
    """`Retry(on=(Flaky, ConnectionError))` retries a subclass of either (like `except`) whether the
    attempt ran in a thread or in a worker process, where only the exception's name comes back."""
    monkeypatch.setenv("TF_TEST_COUNTER", str(counters))  # where the worker processes count
    r = run(
        flows.retrying_subclass,
        store,
        x=2,
        tag="sub",
        _options={"clock": FakeClock().clock(), "isolation": isolation, "use_cache": False},
    )
    assert r.ok and r.value == 20
    assert next(n for n in r.nodes if n.task == "flaky_subclass").attempts == 3


def test_only_configured_exceptions_are_retried(store: Path) -> None:
    fake = FakeClock()
    r = run(flows.not_retried, store, x=1, _options={"clock": fake.clock()})
    assert not r.ok and r.failures[0].attempts == 1 and fake.sleeps == []
    assert r.failures[0].error_type == "KeyError"


def test_full_jitter_is_bounded() -> None:
    from typedflow.backends.local.retry import delay

    from typedflow import ir

    policy = ir.RetryPolicy(attempts=5, backoff=3.0, initial_delay=2.0, max_delay=10.0, jitter=True)
    seen = [delay(policy, a, Clock(uniform=lambda lo, hi: hi)) for a in (1, 2, 3, 4)]
    assert seen == [2.0, 6.0, 10.0, 10.0]
    assert delay(policy, 2, Clock(uniform=lambda lo, hi: lo)) == 0.0


def test_failure_skips_downstream_and_runs_on_failure(store: Path, counters: Path) -> None:
    r = run(flows.failing, store, x=1, channel="#ml")
    assert r.status == "failed" and r.value is None
    st = {n.key: n.status for n in r.nodes}
    assert st["boom"] == "failed"
    assert st["inc"] == "skipped" and st["add"] == "skipped"
    assert st["inc-2"] == "succeeded" and st["inc-3"] == "succeeded"  # the independent branch finished
    assert st["on_failure/notify"] == "succeeded"
    f = r.failures[0]
    assert f.node == "boom" and f.error_type == "ValueError" and f.message == "bad value 1"
    assert "raise ValueError" in f.traceback
    assert (counters / "notified.txt").read_text() == "#ml|boom|ValueError|bad value 1"


def test_thread_timeout_abandons_task(store: Path) -> None:
    t0 = time.perf_counter()
    r = run(flows.timing_out, store, x=1)
    assert not r.ok and r.failures[0].error_type == "TimeoutError"
    assert time.perf_counter() - t0 < 3
    # the abandoned attempt finishes later: its result must not become a cache hit
    assert run(flows.late, store, x=5).failures[0].error_type == "TimeoutError"
    time.sleep(0.5)
    again = run(flows.late, store, x=5)
    assert not again.ok and again.cache_hits == 0 and again.failures[0].error_type == "TimeoutError"


def test_process_isolation_timeout_crash_and_cores(store: Path) -> None:
    t0 = time.perf_counter()
    r = run(flows.timing_out, store, x=1, _options={"isolation": "process"})
    assert not r.ok and r.failures[0].error_type == "TimeoutError" and "killed" in r.failures[0].message
    # killed at its timeout, not left to sleep its 30 s (a new worker's start-up does not count, and takes
    # seconds on a busy machine)
    assert time.perf_counter() - t0 < 20
    r = run(flows.crashing, store, x=1, _options={"isolation": "process"})
    st = {n.key: n.status for n in r.nodes}
    assert st["crash"] == "failed" and st["inc"] == "succeeded" and st["add"] == "skipped"
    assert r.failures[0].error_type == "WorkerCrashed"
    r = run(flows.pids, store, xs=[1, 2, 3, 4], _options={"isolation": "process", "use_cache": False})
    assert r.ok and os.getpid() not in r.value and len(set(r.value)) >= 2


def test_process_timeout_counts_from_the_task_start_not_the_worker_start(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick task with a 1 s timeout succeeds in new worker processes that take 1.5 s to import its
    module: the timeout is the task's (a container's start does not count on Step Functions either)."""
    from tests.local import slow_import_flows

    monkeypatch.setenv("TF_TEST_IMPORT_DELAY", "1.5")  # only the worker processes import it from now on
    r = run(slow_import_flows.quick_items, store, xs=[1, 2], _options={"isolation": "process", "max_workers": 2})
    assert r.ok, [(n.key, n.error_type, n.message) for n in r.failures]
    assert r.value == [2, 3]
    r = run(flows.timing_out, store, x=1, _options={"isolation": "process"})  # a task that overruns still fails
    assert not r.ok and r.failures[0].error_type == "TimeoutError"


def test_process_isolation_survives_writes_to_fd_1_and_kills_what_a_timed_out_task_started(store: Path) -> None:
    r = run(flows.noisy, store, x=1, _options={"isolation": "process", "use_cache": False})
    assert r.ok and r.value == 2, r.failures
    t0 = time.perf_counter()
    r = run(flows.orphaning, store, x=1, _options={"isolation": "process"})
    assert not r.ok and r.failures[0].error_type == "TimeoutError"
    assert time.perf_counter() - t0 < 10  # the child holding the worker's pipes was killed with it


def test_retry_backoffs_overlap_instead_of_holding_the_scheduler(store: Path, counters: Path) -> None:
    # Once the template is known quick, items run inline on the scheduler thread; eight of them fail
    # once and wait 0.4 s to retry. The waits happen in the pool, side by side: in turn they take 3.2 s.
    t0 = time.perf_counter()
    r = run(flows.flaky_items, store, xs=list(range(16)), tag="ov", _options={"max_workers": 8})
    assert r.ok and r.value == [x * 10 for x in range(16)]
    assert sorted(n.attempts for n in r.nodes) == [1] * 8 + [2] * 8
    assert time.perf_counter() - t0 < 2.0


def test_process_workers_reused_and_replaced_mid_chain(
    store: Path, counters: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker keeps the templates it was sent; one that dies is replaced by a worker that is sent them again.
    monkeypatch.setenv("TF_TEST_COUNTER", str(counters))  # where the worker processes count
    r = run(flows.crash_mid_chain, store, x=1, tag="cm", _options={"isolation": "process", "use_cache": False})
    assert r.ok and r.value == 6  # ((1 + 1 + 1) + 1 + 1) + 1
    attempts = {n.key: n.attempts for n in r.nodes if n.task and n.task.endswith("crash_once")}
    assert sorted(attempts.values()) == [1, 2]
    assert flows.executions("cm") == 3  # the killed attempt counted too


def test_cache_hits_and_opt_outs(store: Path, counters: Path) -> None:
    first = run(flows.retrying, store, x=5, failures=0, tag="c1")
    second = run(flows.retrying, store, x=5, failures=0, tag="c1")
    assert first.value == second.value == 50
    assert flows.executions("c1") == 1 and second.cache_hits == 1
    run(flows.retrying, store, x=5, failures=0, tag="c1", _options={"use_cache": False})
    assert flows.executions("c1") == 2
    run(flows.with_uncached, store, x=1, tag="u")
    run(flows.with_uncached, store, x=1, tag="u")
    assert flows.executions("u") == 2


def test_editing_task_code_invalidates_cache(tmp_path: Path, store: Path) -> None:
    from tests.conftest import import_source

    src = """
from typedflow import task, workflow
@task
def f(x: int) -> int:
    return x + {k}
@workflow
def wf(x: int) -> int:
    return f(x=x)
"""
    a = import_source(tmp_path, src.format(k=1), name="cache_edit_a")
    assert run(a.wf, store, x=1).value == 2
    assert run(a.wf, store, x=1).cache_hits == 1
    b = import_source(tmp_path, src.format(k=2), name="cache_edit_b")
    rb = run(b.wf, store, x=1)
    assert rb.value == 3 and rb.cache_hits == 0


def test_inputs_validated_before_anything_runs(store: Path) -> None:
    with pytest.raises(InputError) as info:
        run(flows.fanout, store, xs=["a", 2])
    assert 'input "xs"[0]: expected int, got str' in str(info.value)
    with pytest.raises(InputError, match='missing input "x"'):
        run(flows.diamond, store)
    with pytest.raises(InputError, match='unknown input "y"'):
        run(flows.diamond, store, x=1, y=2)
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())


def test_missing_input_files_are_all_named_and_nothing_is_written(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with pytest.raises(InputError) as info:
        run(flows.two_files, store, a=tmp_path / "no-a.csv", b=tmp_path / "no-b.csv")
    assert str(info.value).split("; ") == [
        f'input "a": file {tmp_path / "no-a.csv"} does not exist',
        f'input "b": file {tmp_path / "no-b.csv"} does not exist',
    ]
    with pytest.raises(InputError, match='input "x": expected int, got str'):
        run(flows.diamond, store, x="x")
    assert not store.exists() or sorted(p.name for p in store.rglob("*")) == []
    good = tmp_path / "a.csv"
    good.write_text("x\ny\n")
    assert run(flows.two_files, store, a=good, b=good).value == 4


def test_command_line_inputs_report_every_problem_at_once(tmp_path: Path) -> None:
    from typedflow.runtime.inputs import parse_inputs

    with pytest.raises(InputError) as info:
        parse_inputs(flows.failing.ir, ["x=abc", "nope=1", "junk"], None)
    assert str(info.value).split("; ") == [
        "input \"x\": expected int as JSON, got 'abc'",
        'unknown input "nope" (the workflow takes: channel, x)',
        "--input 'junk': expected name=value",
        'missing input "channel" (str)',
    ]
    # a readable but ill-typed value (here from --inputs-file) is reported with the unreadable one
    given = tmp_path / "inputs.json"
    given.write_text('{"channel": 5}')
    with pytest.raises(InputError) as info:
        parse_inputs(flows.failing.ir, ["x=abc"], str(given))
    assert str(info.value).split("; ") == [
        "input \"x\": expected int as JSON, got 'abc'",
        'input "channel": expected str, got int',
    ]
    assert parse_inputs(flows.failing.ir, ["x=1", "channel=#ops"], None) == {"x": 1, "channel": "#ops"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=dags.dag_specs(max_nodes=10))
def test_running_the_ir_equals_calling_the_functions(tmp_path: Path, spec: dags.DagSpec) -> None:
    text, _ = dags.source(spec)
    mod = dags.load(tmp_path, text)
    expected = mod.wf.fn(x=7)  # outside a workflow, tasks are plain functions
    r = run_workflow(mod.wf, {"x": 7}, RunOptions(store=tmp_path / "s", lineage=False))
    assert r.ok and r.value == expected


def test_current_run_context(tmp_path: Path, store: Path) -> None:
    from tests.conftest import import_source

    mod = import_source(
        tmp_path,
        """
import typedflow
from typedflow import task, workflow, map_over
@task
def where(x: int) -> str:
    ctx = typedflow.current_run()
    return f"{ctx.run_id}|{ctx.node}|{ctx.attempt}|{ctx.target}|{ctx.workflow}"
@workflow
def wf(xs: list[int]) -> list[str]:
    return map_over(lambda x: where(x=x), xs)
""",
        name="ctx_mod",
    )
    r = run(mod.wf, store, xs=[1, 2])
    assert r.value == [f"{r.run_id}|map[0]/where|1|local|wf", f"{r.run_id}|map[1]/where|1|local|wf"]
    with pytest.raises(RuntimeError, match="only available while a task runs"):
        mod.where(x=1)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_current_run_context_in_each_isolation(tmp_path: Path, isolation: Literal["thread", "process"]) -> None:
    from tests.support import context_flows

    wf = context_flows.context_plain
    r = run_workflow(wf, {"x": 1, "y": 2}, RunOptions(store=tmp_path / "s", isolation=isolation))
    assert r.ok, r.failures
    assert r.value == context_flows.Seen(
        f"context_plain|whereabouts|1|{wf.ir.digest}|1",
        f"context_plain|whereabouts-2|1|{wf.ir.digest}|2",
        f"local|{r.run_id}|1",
    )


def test_current_run_knows_the_attempt(tmp_path: Path) -> None:
    from tests.support import context_flows

    r = run_workflow(context_flows.context_retried, {"key": "local-attempt"}, RunOptions(store=tmp_path / "s"))
    assert r.value == "attempt_seen|2"


def test_long_chain_of_cache_hits_does_not_recurse(tmp_path: Path, store: Path) -> None:
    from tests.conftest import import_source

    mod = import_source(
        tmp_path,
        """
from typedflow import task, workflow
@task
def inc(x: int) -> int:
    return x + 1
@workflow
def chain(x: int) -> int:
    v = inc(x=x)
    for _ in range(2999):
        v = inc(x=v)
    return v
""",
        name="long_chain_mod",
    )
    assert run(mod.chain, store, x=0).value == 3000
    again = run(mod.chain, store, x=0)
    assert again.value == 3000 and again.cache_hits == 3000


def test_long_chain_of_quick_maps_does_not_recurse(tmp_path: Path, store: Path) -> None:
    # Each map's items run on the scheduler's thread as the map starts; the map that ends there must not
    # start the next one from inside itself, or 500 maps in a row would nest 500 deep.
    from tests.conftest import import_source

    mod = import_source(
        tmp_path,
        """
from typedflow import map_over, task, workflow
@task
def inc(x: int) -> int:
    return x + 1
@workflow
def maps(xs: list[int]) -> list[int]:
    v = map_over(inc, xs)
    for _ in range(499):
        v = map_over(inc, v)
    return v
""",
        name="long_maps_mod",
    )
    xs = list(range(6))
    assert run(mod.maps, store, xs=xs).value == [x + 500 for x in xs]
    again = run(mod.maps, store, xs=xs)
    assert again.value == [x + 500 for x in xs] and again.cache_hits == 500 * len(xs)


def test_live_progress_view_and_map_bar(store: Path) -> None:
    import io

    from typedflow.cli.progress import make_progress

    out = io.StringIO()
    progress = make_progress("live", out)
    r = run(flows.fanout, store, xs=[1, 2, 3, 4], _options={"listener": progress.listener})
    progress.finish(r)
    text = out.getvalue()
    assert "\x1b[K" in text and "map [" in text and "0/4" in text and "3/4" in text
    assert f"run {r.run_id}: SUCCEEDED" in text
    assert not any(n.status in ("map", "item") for n in r.nodes)  # progress events are not node states


@pytest.mark.parametrize("use_cache", [True, False])
def test_non_finite_floats_are_rejected_not_crashed_on(tmp_path: Path, use_cache: bool) -> None:
    from tests.conftest import import_source

    src = """
from typedflow import task, workflow

@task
def blow_up(x: float) -> float:
    return x * float("inf") * 0.0

@task
def half(v: float) -> float:
    return v / 2

@workflow
def nan_wf(x: float) -> float:
    return half(v=blow_up(x=x))
"""
    mod = import_source(tmp_path, src, name=f"nan_flow_{use_cache}")
    store = tmp_path / "s"
    r = run(mod.nan_wf, store, x=1.0, _options={"use_cache": use_cache})
    assert r.status == "failed" and [n.status for n in r.nodes] == ["failed", "skipped"]
    assert r.failures[0].message == "task blow_up: return value: expected a finite float, got nan"
    with pytest.raises(InputError, match='input "x": expected a finite float, got inf'):
        run(mod.nan_wf, tmp_path / "s2", x=float("inf"))
    assert not (tmp_path / "s2" / "runs").exists() or not any((tmp_path / "s2" / "runs").iterdir())


def test_dict_keys_must_be_strings_as_inputs_and_as_outputs(tmp_path: Path) -> None:
    from tests.conftest import import_source

    src = """
from typedflow import task, workflow

@task
def invert(weights: dict[str, float]) -> dict[str, float]:
    return {len(k): v for k, v in weights.items()}  # type: ignore[misc]

@workflow
def keys_wf(weights: dict[str, float]) -> dict[str, float]:
    return invert(weights=weights)
"""
    mod = import_source(tmp_path, src, name="dict_keys_flow")
    with pytest.raises(InputError) as info:
        run(mod.keys_wf, tmp_path / "s", weights={1: 1.0})
    assert str(info.value) == 'input "weights": expected dict[str, float], got a key 1 (int, not str)'
    assert not (tmp_path / "s").exists()
    r = run(mod.keys_wf, tmp_path / "s", weights={"a": 1.0})
    assert r.status == "failed"
    assert r.failures[0].message == ("task invert: return value: expected dict[str, float], got a key 1 (int, not str)")


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_exit_handler_gets_its_blocks_failure_from_a_sub_workflow(
    store: Path, isolation: Literal["thread", "process"]
) -> None:
    """The failure an exit handler gets is its block's first one, also when it failed inside a
    sub-workflow the block calls, not a failure outside the block that came earlier."""
    seconds = 0.3 if isolation == "thread" else 1.5  # after `boom` failed (a new worker process takes a while)
    r = run(flows.closed_sub, store, x=1, seconds=seconds, _options={"isolation": isolation, "use_cache": False})
    assert not r.ok
    assert [n.key for n in r.failures] == ["boom", "inner_later/later_boom"]
    handler = next(n for n in r.nodes if n.key == "exit_handler/seen_failure")
    assert handler.outputs == {"out": "inner_later/later_boom|KeyError"}


def test_failures_a_map_tolerated_are_not_the_runs_failure(store: Path, counters: Path) -> None:
    """Items a `tolerated_failure` map let fail are not what failed the run: on_failure, an exit handler,
    the raised error and failures.json (whose first row `runs show` prints) name the node that did."""
    r = run(flows.tolerated_then_failing, store, xs=[1, 2, 3, 4], channel="#ml")
    assert not r.ok
    keys = [n.key for n in r.failures]
    assert keys[0] == "explode_later" and sorted(keys[1:]) == ["map[1]/odd_only", "map[3]/odd_only"]
    assert (counters / "notified.txt").read_text() == "#ml|explode_later|KeyError|'after 2 tolerated failures'"
    handler = next(n for n in r.nodes if n.key == "exit_handler/seen_failure")
    assert handler.outputs == {"out": "explode_later|KeyError"}
    rows = json.loads((r.run_dir / "failures.json").read_text())
    assert [row["node"] for row in rows] == keys
    with pytest.raises(WorkflowFailedError, match="node explode_later "):
        flows.tolerated_then_failing(xs=[1, 2, 3, 4], channel="#ml")


def test_on_failure_handler_is_retried_by_its_own_policy(tmp_path: Path) -> None:
    from tests.conftest import import_source

    src = """
from pathlib import Path
from typedflow import Failure, Retry, task, workflow

@task
def fail(x: int) -> int:
    raise RuntimeError(f"broken {x}")

@task(retry=Retry(attempts=3, initial_delay=5.0, backoff=2.0, on=(ConnectionError,)))
def page(failure: Failure, tally: str, ok_at: int) -> str:
    n = len(Path(tally).read_text()) + 1 if Path(tally).exists() else 1
    Path(tally).write_text("x" * n)
    if ok_at < 0:
        raise ValueError("misconfigured pager")
    if n < ok_at:
        raise ConnectionError(f"pager down (attempt {n})")
    return failure.message

@workflow(on_failure=page)
def paged(x: int, tally: str, ok_at: int) -> int:
    return fail(x=x)
"""
    mod = import_source(tmp_path, src, name="paged_flow")
    cases = {
        3: ("succeeded", 3, [5.0, 10.0]),  # down twice, then through
        9: ("failed", 3, [5.0, 10.0]),  # retries exhausted
        -1: ("failed", 1, []),
    }  # not an error its policy retries
    for ok_at, (status, attempts, sleeps) in cases.items():
        fake = FakeClock()
        tally = tmp_path / f"tally{ok_at}"
        r = run(mod.paged, tmp_path / "s", x=1, tally=str(tally), ok_at=ok_at, _options={"clock": fake.clock()})
        assert r.status == "failed" and r.failures[0].message == "broken 1"
        handler = next(n for n in r.nodes if n.key == "on_failure/page")
        assert (handler.status, handler.attempts, fake.sleeps) == (status, attempts, sleeps), ok_at
        assert len(tally.read_text()) == attempts
        if status == "succeeded":
            assert handler.outputs == {"out": "broken 1"}


def test_ints_beyond_the_exact_json_range_are_rejected(tmp_path: Path) -> None:
    from tests.conftest import import_source

    src = """
from typedflow import task, workflow

@task
def double(x: int) -> int:
    return x * 2

@workflow
def doubling(x: int) -> int:
    return double(x=x)
"""
    mod = import_source(tmp_path, src, name="big_int_flow")
    limit = 2**53 - 1
    with pytest.raises(InputError, match=rf'input "x": int {limit + 1} is beyond ±\(2\*\*53 - 1\)'):
        run(mod.doubling, tmp_path / "s", x=limit + 1)
    with pytest.raises(InputError, match=rf'input "x": int {-limit - 1} is beyond'):
        run(mod.doubling, tmp_path / "s", x=-limit - 1)
    assert run(mod.doubling, tmp_path / "s", x=limit // 2).value == limit - 1
    r = run(mod.doubling, tmp_path / "s", x=limit // 2 + 1)
    assert r.status == "failed"
    assert r.failures[0].message.startswith(f"task double: return value: int {limit + 1} is beyond")


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_failed_attempts_are_recorded_with_their_real_start(tmp_path: Path, counters: Path, isolation: str) -> None:
    """A failed task's lineage record spans its attempt: it starts when the attempt did, not when
    the record was written (which made durations negative)."""
    import datetime as dt

    from typedflow.lineage.query import iter_records

    def ts(s: str | None) -> dt.datetime:
        assert s
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))

    store = tmp_path / "s"
    opts = {"isolation": isolation}
    assert run(flows.timing_out, store, x=1, _options=opts).status == "failed"
    if isolation == "process":  # os._exit would end this process under thread isolation
        assert run(flows.crashing, store, x=1, _options=opts).status == "failed"
    else:
        assert run(flows.failing, store, x=1, channel="#ml", _options=opts).status == "failed"
    records = [rec for rec, _ in iter_records(store / "lineage" / "log.jsonl")]
    starts = {rec.run_id: ts(rec.started_at) for rec in records if rec.kind == "run_start"}
    failed = {rec.task: rec for rec in records if rec.kind == "task" and rec.status == "failed"}
    assert set(failed) == {"too_slow", "crash" if isolation == "process" else "boom"}
    for rec in failed.values():
        assert starts[rec.run_id] <= ts(rec.started_at) <= ts(rec.ended_at), rec
    slow = failed["too_slow"]
    assert (ts(slow.ended_at) - ts(slow.started_at)).total_seconds() >= 0.25  # its 0.3 s timeout


def test_tuples_fixed_and_variadic_cross_task_boundaries(tmp_path: Path) -> None:
    """Tuples are typed JSON lists: a task may return one (fixed or ``tuple[T, ...]``), a workflow
    may take one, and the Python API gives tuples back."""
    from tests.conftest import import_source

    src = """
import attrs
from typedflow import map_over, task, workflow

@attrs.frozen
class Config:
    name: str
    tags: tuple[str, ...] = ()

@task
def split(cfg: Config) -> tuple[str, int]:
    return (cfg.name, len(cfg.tags))

@task
def shout(tag: str) -> str:
    return tag.upper()

@task
def tags_of(cfg: Config) -> tuple[str, ...]:
    return cfg.tags

@task
def join(head: tuple[str, int], loud: list[str], dims: tuple[int, ...]) -> tuple[str, ...]:
    return (head[0], str(head[1]), *loud, *map(str, dims))

@workflow
def tuples(cfg: Config, dims: tuple[int, ...]) -> tuple[str, ...]:
    return join(head=split(cfg=cfg), loud=map_over(shout, tags_of(cfg=cfg)), dims=dims)
"""
    mod = import_source(tmp_path, src, name="tuple_flow")
    cfg = mod.Config("m", ("a", "b"))
    r = run(mod.tuples, tmp_path / "s", cfg=cfg, dims=(3, 4))
    assert r.ok, r.failures
    assert r.value == ("m", "2", "A", "B", "3", "4") and r.outputs == {"out": ["m", "2", "A", "B", "3", "4"]}
    assert str(mod.tuples.ir.workflow.returns) == "tuple[str, ...]"
    with pytest.raises(InputError, match=r'input "dims"\[1\]: expected int, got str'):
        run(mod.tuples, tmp_path / "s", cfg=cfg, dims=(3, "x"))


def test_command_line_scalars_are_raw_text_and_bytes_must_be_base64(tmp_path: Path) -> None:
    from tests.conftest import import_source
    from typedflow.runtime.inputs import check_inputs, parse_inputs

    src = """
import datetime as dt
from typedflow import task, workflow

@task
def size(blob: bytes, day: dt.date) -> str:
    return f"{len(blob)}@{day.isoformat()}"

@workflow
def blob_wf(blob: bytes, day: dt.date) -> str:
    return size(blob=blob, day=day)
"""
    mod = import_source(tmp_path, src, name="bytes_flow")
    doc = mod.blob_wf.ir
    assert parse_inputs(doc, ["blob=aGk=", "day=2026-01-02"], None) == {"blob": "aGk=", "day": "2026-01-02"}
    assert parse_inputs(doc, ['blob="aGk="', "day=2026-01-02"], None)["blob"] == "aGk="  # JSON text too
    with pytest.raises(InputError) as info:
        check_inputs(doc, parse_inputs(doc, ["blob=!!", "day=2026-13-02"], None))
    assert str(info.value).split("; ") == [
        "input \"blob\": expected bytes as base64 text, got '!!'",
        "input \"day\": expected an ISO-8601 date, got '2026-13-02'",
    ]
    import datetime as dt

    assert run(mod.blob_wf, tmp_path / "s", blob=b"hi", day=dt.date(2026, 1, 2)).value == "2@2026-01-02"


def test_command_line_null_is_none_for_optional_inputs(tmp_path: Path) -> None:
    from tests.conftest import import_source
    from typedflow.runtime.inputs import parse_inputs

    src = """
from typedflow import TypedFile, task, workflow

@task
def echo(s: str | None, n: int | None, f: TypedFile | None) -> str:
    return f"{s!r}|{n!r}|{f is None}"

@workflow
def opt_wf(s: str | None, n: int | None, f: TypedFile | None = None) -> str:
    return echo(s=s, n=n, f=f)
"""
    doc = import_source(tmp_path, src, name="optional_flow").opt_wf.ir
    assert parse_inputs(doc, ["s=null", "n=null", "f=null"], None) == {"s": None, "n": None, "f": None}
    assert parse_inputs(doc, ['s="null"', "n=3"], None) == {"s": "null", "n": 3}  # the text itself, as JSON
    assert parse_inputs(doc, ["s=hello"], None) == {"s": "hello"}


def test_process_isolation_runs_tasks_defined_in_a_script(tmp_path: Path) -> None:
    """Tasks defined in the script being run (module ``__main__``) reach worker processes: the
    worker loads the script as ``__mp_main__``, so its ``if __name__ == "__main__"`` block runs once."""
    import subprocess
    import sys

    script = tmp_path / "pipeline_script.py"
    script.write_text(f"""
from pathlib import Path
from typedflow import map_over, task, workflow
from typedflow.runtime.running import RunOptions, run_workflow

@task
def square(x: int) -> int:
    return x * x

@workflow
def squares(xs: list[int]) -> list[int]:
    return map_over(square, xs)

if __name__ == "__main__":
    with open({str(tmp_path / "main-ran")!r}, "a") as fh:
        fh.write("x")
    r = run_workflow(squares, {{"xs": [1, 2, 3]}}, RunOptions(store={str(tmp_path / "s")!r}, isolation="process"))
    print(r.status, r.value, [f.message for f in r.failures])
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "succeeded [1, 4, 9] []"
    assert (tmp_path / "main-ran").read_text() == "x"


def test_a_worker_process_imports_what_its_tasks_need_not_every_module_of_its_parent(tmp_path: Path) -> None:
    """A worker imports its task's module (and what that imports, found by name or from the parent's files),
    not every module the parent has loaded: in a notebook or a test session that is hundreds, some with side
    effects at import."""
    from tests.conftest import import_source

    seen = tmp_path / "imported-in"
    import_source(
        tmp_path,
        f"""
        import os
        with open({str(seen)!r}, "a") as fh:
            fh.write(f"{{os.getpid()}}\\n")
        """,
        name="tf_unrelated_side_effects",
    )
    import_source(tmp_path, "SCALE = 7\n", name="tf_only_by_file")  # loaded from its file: not on sys.path
    m = import_source(
        tmp_path,
        """
        from typedflow import map_over, task, workflow
        from tf_only_by_file import SCALE

        @task
        def scaled(x: int) -> int:
            return x * SCALE

        @workflow
        def all_scaled(xs: list[int]) -> list[int]:
            return map_over(scaled, xs)
        """,
    )
    r = run(m.all_scaled, tmp_path / "s", xs=[1, 2], _options={"isolation": "process", "max_workers": 2})
    assert r.ok and r.value == [7, 14], r.failures
    assert seen.read_text().split() == [str(os.getpid())]  # imported once, here, never in a worker


def test_a_parent_with_modules_past_the_kernels_argument_limit_still_starts_workers(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent's module files reach a worker on its stdin: as one argument, 2,000 modules of long paths
    pass Linux's 128 KiB limit for an argument and the worker could not start (E2BIG)."""
    import sys
    import types

    for i in range(2000):
        m = types.ModuleType(f"tf_many_{i}")
        m.__file__ = f"/nowhere/{'deep/' * 20}tf_many_{i}.py"
        monkeypatch.setitem(sys.modules, m.__name__, m)
    r = run(flows.pids, store, xs=[1, 2], _options={"isolation": "process", "use_cache": False})
    assert r.ok and os.getpid() not in r.value, r.failures
