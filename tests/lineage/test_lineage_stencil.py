"""A stencil's record bytes are exactly the canonical bytes of the same record built the general way."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV
from typedflow.lineage.log import LineageLog
from typedflow.lineage.record import (
    STATUSES,
    LineageRecord,
    ValueRef,
    identity,
    new_record,
    record_from_bytes,
    record_line,
)
from typedflow.lineage.stencil import TaskStencil
from typedflow.lineage.verify import verify_log

text = st.text(max_size=30)  # any code point: non-ASCII and control characters are escaped alike
opt_text = st.none() | text
refs = st.lists(st.tuples(text, text, opt_text, opt_text), max_size=3)
scalars = st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False) | text
fixed = st.fixed_dictionaries(
    {
        "run_id": text,
        "workflow": text,
        "ir_digest": text,
        "target": text,
        "executor": text,
        "task": text,
        "code_digest": opt_text,
        "image": opt_text,
        "log_origin": text,
    }
)
varying = st.fixed_dictionaries(
    {
        "node_id": text,
        "status": st.sampled_from(sorted(STATUSES)),
        "attempt": st.integers(0, 10**6),
        "inputs": refs,
        "outputs": refs,
        "parameters": st.dictionaries(text, scalars, max_size=4),
        "started_at": st.text(min_size=1, max_size=30),
        "ended_at": opt_text,
        "cache_key": opt_text,
        "error": opt_text,
        "record_id": st.text("0123456789abcdef", min_size=32, max_size=32),
    }
)


def general(f: dict[str, object], v: dict[str, object], seq: int, prev: str) -> bytes:
    rec = new_record(
        "task",
        run_id=f["run_id"],
        workflow=f["workflow"],
        ir_digest=f["ir_digest"],
        target=f["target"],
        executor=f["executor"],
        status=v["status"],
        started_at=v["started_at"],
        ended_at=v["ended_at"],
        node_id=v["node_id"],
        task=f["task"],
        code_digest=f["code_digest"],
        image=f["image"],
        attempt=v["attempt"],
        inputs=tuple(ValueRef(*r) for r in v["inputs"]),  # type: ignore[attr-defined]
        outputs=tuple(ValueRef(*r) for r in v["outputs"]),  # type: ignore[attr-defined]
        parameters=v["parameters"],
        cache_key=v["cache_key"],
        error=v["error"],
        record_id=v["record_id"],
        log_origin=f["log_origin"],
        seq=seq,
        prev_hash=prev,
    )
    return record_line(rec)


@settings(max_examples=200, deadline=None)
@given(fixed, varying, st.integers(0, 10**9), st.text("0123456789abcdef", min_size=64, max_size=64))
def test_stencil_bytes_equal_the_canonical_record(
    f: dict[str, object], v: dict[str, object], seq: int, prev: str
) -> None:
    a, b, c = TaskStencil(**f).prepare(**v)  # type: ignore[arg-type]
    line = f"{a}{prev}{b}{seq}{c}".encode("ascii")
    assert line == general(f, v, seq, prev)
    assert isinstance(record_from_bytes(line), LineageRecord)


@settings(max_examples=200, deadline=None)
@given(
    fixed,
    varying,
    st.sampled_from(["succeeded", "cached", "skipped"]),
    st.text(min_size=1, max_size=30),
    st.integers(0, 10**9),
    st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_prepare_done_bytes_equal_the_canonical_record(
    f: dict[str, object], v: dict[str, object], status: str, ended: str, seq: int, prev: str
) -> None:
    # The positional form for executions that did not fail: no error, both timestamps, a new record id.
    from typedflow.lineage.stencil import params_json, refs_json

    v = {**v, "status": status, "ended_at": ended, "error": None}
    a, b, c = TaskStencil(**f).prepare_done(  # type: ignore[arg-type]
        v["node_id"],
        status,
        v["attempt"],
        refs_json(v["inputs"]),
        refs_json(v["outputs"]),  # type: ignore[arg-type]
        params_json(v["parameters"]),
        v["started_at"],
        ended,
        v["cache_key"],
    )  # type: ignore[arg-type]
    line = f"{a}{prev}{b}{seq}{c}".encode("ascii")
    rec = record_from_bytes(line)
    assert len(rec.record_id) == 32 and line == general(f, {**v, "record_id": rec.record_id}, seq, prev)


def test_stencil_fills_id_and_start_like_new_record() -> None:
    st_ = TaskStencil(
        run_id="r",
        workflow="w",
        ir_digest="d",
        target="local",
        executor="thread",
        task="t",
        code_digest=None,
        image=None,
        log_origin="o",
    )
    lines = []
    for _ in range(2):
        a, b, c = st_.prepare(
            node_id="n",
            status="succeeded",
            attempt=1,
            inputs=[],
            outputs=[],
            parameters={},
            started_at=None,
            ended_at=None,
            cache_key=None,
            error=None,
        )
        lines.append(record_from_bytes(f"{a}{'0' * 64}{b}0{c}".encode("ascii")))
    assert lines[0].record_id != lines[1].record_id and len(lines[0].record_id) == 32
    assert lines[0].started_at.endswith("Z") and (lines[0].user, lines[0].host) == identity()


def test_stencil_rejects_what_a_record_rejects() -> None:
    st_ = TaskStencil(
        run_id="r",
        workflow="w",
        ir_digest="d",
        target="local",
        executor="thread",
        task="t",
        code_digest=None,
        image=None,
        log_origin="o",
    )
    common = {
        "node_id": "n",
        "inputs": [],
        "outputs": [],
        "parameters": {},
        "started_at": None,
        "ended_at": None,
        "cache_key": None,
        "error": None,
    }
    with pytest.raises(ValueError, match="status"):
        st_.prepare(status="done", attempt=1, **common)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attempt"):
        st_.prepare(status="failed", attempt="1", **common)  # type: ignore[arg-type]
    done = ("n", "[]", "[]", "{}", "2026-12-04T00:00:00.000000Z", "2026-12-04T00:00:01.000000Z", None)
    with pytest.raises(ValueError, match="status"):  # a failure has an error: the general form
        st_.prepare_done(done[0], "failed", 1, *done[1:])
    with pytest.raises(TypeError, match="attempt"):
        st_.prepare_done(done[0], "succeeded", True, *done[1:])


def test_prepared_records_chain_and_verify(tmp_path: Path) -> None:
    log = LineageLog(tmp_path / "log.jsonl")
    stencil = TaskStencil(
        run_id="r",
        workflow="w",
        ir_digest="d",
        target="local",
        executor="thread",
        task="t",
        code_digest="c",
        image="i",
        log_origin=log.origin,
    )
    log.append(
        new_record(
            "run_start", run_id="r", workflow="w", ir_digest="d", target="local", executor="thread", status="started"
        )
    )
    for i in range(250):
        log.append_prepared(
            stencil.prepare(
                node_id=f"n[{i}]",
                status="succeeded",
                attempt=1,
                inputs=[("x", "sha256:1", None, None)],
                outputs=[("out", "sha256:2", "file:///a", "ab")],
                parameters={"x": i},
                started_at=None,
                ended_at=None,
                cache_key="k",
                error=None,
            )
        )
    log.close()
    report = verify_log(tmp_path / "log.jsonl", deep=True)  # deep: every line re-encoded canonically
    assert report.ok and report.count == 251, report.summary()
    recs = [r for r, _ in LineageLog(tmp_path / "log.jsonl").records()]
    assert [r.seq for r in recs] == list(range(251))
    assert recs[-1].node_id == "n[249]" and recs[-1].log_origin == log.origin and recs[-1].parameters == {"x": 249}


def test_prepared_records_handed_over_in_groups_chain_as_one_at_a_time(tmp_path: Path) -> None:
    logs = [LineageLog(tmp_path / name / "log.jsonl", flush_every=100) for name in ("one", "groups")]
    stencils = [
        TaskStencil(
            run_id="r",
            workflow="w",
            ir_digest="d",
            target="local",
            executor="thread",
            task="t",
            code_digest="c",
            image="i",
            log_origin="o",
        )
        for _ in logs
    ]
    prepared = [
        [
            s.prepare(
                node_id=f"n[{i}]",
                status="succeeded",
                attempt=1,
                inputs=[],
                outputs=[],
                parameters={"x": i},
                started_at="2026-12-04T00:00:00.000000Z",
                ended_at=None,
                cache_key=None,
                error=None,
                record_id=f"{i:032x}",
            )
            for i in range(250)
        ]
        for s in stencils
    ]
    for p in prepared[0]:
        logs[0].append_prepared(p)
    pending = []
    for start, size in ((0, 30), (30, 90), (120, 1), (121, 129)):  # below, across and past flush_every
        logs[1].append_prepared(*prepared[1][start : start + size])
        pending.append(logs[1].pending)
    assert pending == [30, 0, 1, 0]  # a group that fills the buffer commits all of it
    for log in logs:
        log.close()
    one, groups = ((tmp_path / name / "log.jsonl").read_bytes() for name in ("one", "groups"))
    assert one == groups and one.count(b"\n") == 250
    assert verify_log(tmp_path / "groups" / "log.jsonl", deep=True).ok


@task
def _varied(
    n: int, lr: float, name: str, flag: bool, api_token: str, xs: list[int], data: TypedFile[CSV], maybe: int | None
) -> TypedFile[CSV]:
    raise NotImplementedError  # never run: only its template is used


@workflow
def _varied_wf(
    n: int, lr: float, name: str, flag: bool, api_token: str, xs: list[int], data: TypedFile[CSV], maybe: int | None
) -> TypedFile[CSV]:
    return _varied(n, lr, name, flag, api_token, xs, data, maybe)


_file = st.builds(lambda uri, sha: {"uri": uri, "sha256": sha, "format": "csv"}, text, st.text("0123456789abcdef"))


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "n": st.integers(-(2**53) + 1, 2**53 - 1),
            "lr": st.floats(allow_nan=False, allow_infinity=False),
            "name": st.text(max_size=300),
            "flag": st.booleans(),
            "api_token": text,
            "xs": st.lists(st.integers(0, 9)),
            "data": _file,
            "maybe": st.none() | st.integers(0, 9),
        }
    ),
    _file,
    st.sampled_from(["succeeded", "cached", "failed", "skipped"]),
    st.booleans(),
)
def test_local_recorder_writes_what_task_record_builds(
    tmp_path_factory: pytest.TempPathFactory,
    inputs: dict[str, object],
    out: dict[str, object],
    status: str,
    digests_known: bool,
) -> None:
    from typedflow.backends.local.interpreter import NodeReport

    from typedflow.runtime.execute import input_digests
    from typedflow.runtime.recording import LocalRecorder, task_record

    doc = _varied_wf.ir
    template = doc.tasks[0]
    root = tmp_path_factory.mktemp("rec")
    recorder = LocalRecorder(root, doc, "run-1", "thread")
    digests = input_digests(template, inputs) if digests_known else {}  # type: ignore[arg-type]
    outputs = {} if status in ("failed", "skipped") else {"out": out}
    rep = NodeReport(
        "n0",
        "n0",
        template.name,
        status,
        attempts=2,
        started_at="2026-12-04T00:00:00.000001Z",
        ended_at="" if status == "skipped" else "2026-12-04T00:00:01.000001Z",
        cache_key="k",
        error_type="ValueError",
        message="bad",
        inputs=inputs,
        outputs=outputs,
        input_digests=digests,
    )
    recorder.node(rep)
    recorder.close()
    ((written, _),) = LineageLog(root / "lineage" / "log.jsonl").records()
    expected = task_record(
        doc_name=doc.workflow.name,
        ir_digest=doc.digest,
        run_id="run-1",
        target="local",
        executor="thread",
        template=template,
        node_id="n0",
        status=status,
        attempt=2,
        inputs=inputs,
        outputs=outputs,  # type: ignore[arg-type]
        started_at=rep.started_at,
        ended_at=rep.ended_at or None,
        cache_key="k",
        error="ValueError: bad" if status == "failed" else None,
        input_digests=digests or None,
    )
    expected = attrs.evolve(
        expected, record_id=written.record_id, log_origin=recorder.log.origin, seq=0, prev_hash=written.prev_hash
    )
    raw = (root / "lineage" / "log.jsonl").read_bytes()
    assert raw == record_line(expected) + b"\n"  # the bytes written, not a re-encoding of them
    assert "api_token" not in written.parameters and ("name" in written.parameters) == (len(inputs["name"]) <= 200)  # type: ignore[arg-type]


@task
def _one(rows: list[int] | None) -> dict[str, int]:
    raise NotImplementedError  # never run: only its template is used


@workflow
def _one_wf(rows: list[int] | None) -> dict[str, int]:
    return _one(rows)


@settings(max_examples=40, deadline=None)
@given(
    st.none() | st.lists(st.integers(-9, 9), max_size=4),
    st.dictionaries(text, st.integers(), max_size=3),
    st.sampled_from(["succeeded", "cached", "failed", "skipped"]),
    st.booleans(),
    opt_text,
)
def test_a_one_input_one_output_task_is_recorded_as_task_record_builds_it(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[int] | None,
    out: dict[str, int],
    status: str,
    digests_known: bool,
    cache_key: str | None,
) -> None:
    from typedflow.backends.local.interpreter import NodeReport

    from typedflow.runtime.execute import input_digests
    from typedflow.runtime.recording import LocalRecorder, task_record

    doc = _one_wf.ir
    template = doc.tasks[0]
    root = tmp_path_factory.mktemp("rec1")
    recorder = LocalRecorder(root, doc, "run-1", "thread")
    inputs = {"rows": rows}
    digests = input_digests(template, inputs) if digests_known else {}
    outputs = {} if status in ("failed", "skipped") else {"out": out}
    rep = NodeReport(
        "map[3]/n0",
        "n0",
        template.name,
        status,
        attempts=1,
        started_at="2026-12-04T00:00:00.000001Z",
        ended_at="2026-12-04T00:00:01.000001Z",
        cache_key=cache_key,
        error_type="E",
        message="m",
        inputs=inputs,
        outputs=outputs,
        input_digests=digests,
    )
    recorder.node(rep)
    recorder.close()
    ((written, _),) = LineageLog(root / "lineage" / "log.jsonl").records()
    expected = task_record(
        doc_name=doc.workflow.name,
        ir_digest=doc.digest,
        run_id="run-1",
        target="local",
        executor="thread",
        template=template,
        node_id="map[3]/n0",
        status=status,
        attempt=1,
        inputs=inputs,
        outputs=outputs,
        started_at=rep.started_at,
        ended_at=rep.ended_at,
        cache_key=cache_key,
        error="E: m" if status == "failed" else None,
        input_digests=digests or None,
    )
    expected = attrs.evolve(
        expected, record_id=written.record_id, log_origin=recorder.log.origin, seq=0, prev_hash=written.prev_hash
    )
    assert (root / "lineage" / "log.jsonl").read_bytes() == record_line(expected) + b"\n"
