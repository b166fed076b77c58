"""The record encoder's bytes are exactly the canonical bytes of the same record built the general way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV
from typedflow.ir.canonical import canonical_bytes
from typedflow.lineage.encoding import CHAIN_FIELDS, RecordEncoder, encode_record, join, params_json, ref_json
from typedflow.lineage.log import LineageLog
from typedflow.lineage.record import (
    KINDS,
    STATUSES,
    LineageRecord,
    ValueRef,
    record_from_bytes,
    record_line,
    record_to_dict,
)
from typedflow.lineage.verify import verify_log
from typedflow.runtime.reports import NodeStatus

text = st.text(max_size=30)  # any code point: non-ASCII and control characters are escaped alike
opt_text = st.none() | text
columns = st.none() | st.lists(st.tuples(text, text), max_size=3).map(tuple)
refs = st.lists(
    st.builds(ValueRef, text, text, opt_text, opt_text, columns, opt_text),
    max_size=3,
).map(tuple)
scalars = st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False) | text
records = st.builds(
    LineageRecord,
    kind=st.sampled_from(sorted(KINDS)),
    record_id=text,
    run_id=text,
    workflow=text,
    ir_digest=text,
    target=text,
    executor=text,
    status=st.sampled_from(sorted(STATUSES)),
    started_at=text,
    ended_at=opt_text,
    python_version=text,
    typedflow_version=text,
    user=text,
    host=text,
    node_id=opt_text,
    task=opt_text,
    code_digest=opt_text,
    image=opt_text,
    attempt=st.integers(0, 10**9),
    inputs=refs,
    outputs=refs,
    parameters=st.dictionaries(text, scalars, max_size=4),
    cache_key=opt_text,
    error=opt_text,
    log_origin=text,
    seq=st.integers(-1, 10**12),
    prev_hash=text,
)
FIELDS = [f.name for f in attrs.fields(LineageRecord) if f.name not in CHAIN_FIELDS]


def _refs_json(refs: tuple[ValueRef, ...]) -> str:
    return "[" + ",".join(ref_json(r.name, r.digest, r.uri, r.sha256, r.columns, r.schema_digest) for r in refs) + "]"


_AS_JSON: dict[str, Callable[[Any], str]] = {"inputs": _refs_json, "outputs": _refs_json, "parameters": params_json}


@settings(max_examples=300, deadline=None)
@given(records, st.sets(st.sampled_from(FIELDS)), st.sets(st.sampled_from(sorted(_AS_JSON))))
def test_encoded_bytes_equal_the_canonical_record(rec: LineageRecord, fixed: set[str], as_json: set[str]) -> None:
    canonical = canonical_bytes(record_to_dict(rec))
    assert record_line(rec) == canonical
    assert join(encode_record(rec), rec.prev_hash, rec.seq).encode("ascii") == canonical
    values = {n: getattr(rec, n) for n in FIELDS}
    encoder = RecordEncoder(**{n: values[n] for n in fixed})  # any split into fixed and varying fields
    prepared = encoder.prepare(**{n: values[n] for n in FIELDS if n not in fixed})
    assert join(prepared, rec.prev_hash, rec.seq).encode("ascii") == canonical
    # Varying fields handed over as the JSON this module's encoders made of them when they were taken.
    encoded = frozenset(as_json - fixed)
    encoder = RecordEncoder(encoded=encoded, **{n: values[n] for n in fixed})
    taken = {n: _AS_JSON[n](values[n]) if n in encoded else values[n] for n in FIELDS if n not in fixed}
    assert join(encoder.prepare(**taken), rec.prev_hash, rec.seq).encode("ascii") == canonical
    assert record_from_bytes(canonical) == rec


def _record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "task",
        "record_id": "0" * 32,
        "run_id": "r",
        "workflow": "w",
        "ir_digest": "d",
        "target": "local",
        "executor": "thread",
        "status": "succeeded",
        "started_at": "2026-12-04T00:00:00.000000Z",
        "ended_at": None,
        "python_version": "3.11",
        "typedflow_version": "0",
        "user": "u",
        "host": "h",
        "node_id": "n",
        "task": "t",
        "code_digest": None,
        "image": None,
        "attempt": 1,
        "inputs": (),
        "outputs": (),
        "parameters": {},
        "cache_key": None,
        "error": None,
        "log_origin": "o",
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"status": "done"}, ValueError, "status"),
        ({"kind": "note"}, ValueError, "kind"),
        ({"attempt": "1"}, TypeError, "int"),
        ({"attempt": True}, TypeError, "int"),  # JSON would say true, the record's type says int
        ({"run_id": 7}, TypeError, None),
        ({"inputs": (("x", "d"),)}, AttributeError, None),
    ],
)
def test_the_encoder_rejects_what_a_record_rejects(
    changes: dict[str, Any], error: type[Exception], match: str | None
) -> None:
    values = _record(**changes)
    with pytest.raises(error, match=match):
        RecordEncoder().prepare(**values)
    fixed = {k: values[k] for k in ("kind", "run_id", "attempt") if k not in changes}
    with pytest.raises(error, match=match):
        RecordEncoder(**fixed).prepare(**{k: v for k, v in values.items() if k not in fixed})


def test_an_encoder_takes_only_record_fields() -> None:
    with pytest.raises(TypeError, match="seq"):
        RecordEncoder(seq=1)
    with pytest.raises(TypeError, match="prev_hash"):
        RecordEncoder(encoded=frozenset({"prev_hash"}))
    with pytest.raises(TypeError, match="inputs"):  # a fixed field is not also taken as JSON
        RecordEncoder(encoded=frozenset({"inputs"}), inputs=())
    with pytest.raises(TypeError, match="colour"):
        RecordEncoder(colour="red")
    with pytest.raises(TypeError):  # a varying field missing
        RecordEncoder(kind="task").prepare(status="succeeded")


def _task_encoder(origin: str) -> RecordEncoder:
    return RecordEncoder(
        kind="task",
        run_id="r",
        workflow="w",
        ir_digest="d",
        target="local",
        executor="thread",
        task="t",
        code_digest="c",
        image="i",
        log_origin=origin,
        python_version="3.11",
        typedflow_version="0",
        user="u",
        host="h",
    )


def _task(i: int, **changes: Any) -> dict[str, Any]:
    values = {
        "node_id": f"n[{i}]",
        "status": "succeeded",
        "attempt": 1,
        "inputs": (ValueRef("x", "sha256:1"),),
        "outputs": (ValueRef("out", "sha256:2", "file:///a", "ab"),),
        "parameters": {"x": i},
        "started_at": "2026-12-04T00:00:00.000000Z",
        "ended_at": None,
        "cache_key": "k",
        "error": None,
        "record_id": f"{i:032x}",
    }
    return {**values, **changes}


def test_prepared_records_chain_and_verify(tmp_path: Path) -> None:
    from typedflow.lineage.record import new_record

    log = LineageLog(tmp_path / "log.jsonl")
    encoder = _task_encoder(log.origin)
    log.append(
        new_record(
            "run_start", run_id="r", workflow="w", ir_digest="d", target="local", executor="thread", status="started"
        )
    )
    for i in range(250):
        log.append_prepared(encoder.prepare(**_task(i)))
    log.close()
    report = verify_log(tmp_path / "log.jsonl", deep=True)  # deep: every line re-encoded canonically
    assert report.ok and report.count == 251, report.summary()
    recs = [r for r, _ in LineageLog(tmp_path / "log.jsonl").records()]
    assert [r.seq for r in recs] == list(range(251))
    assert recs[-1].node_id == "n[249]" and recs[-1].log_origin == log.origin and recs[-1].parameters == {"x": 249}


def test_prepared_records_handed_over_in_groups_chain_as_one_at_a_time(tmp_path: Path) -> None:
    logs = [LineageLog(tmp_path / name / "log.jsonl", flush_every=100) for name in ("one", "groups")]
    prepared = [[_task_encoder("o").prepare(**_task(i)) for i in range(250)] for _ in logs]
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
    status: NodeStatus,
    digests_known: bool,
) -> None:
    from typedflow.backends.local.recorder import LocalRecorder
    from typedflow.backends.local.reports import NodeReport

    from typedflow.runtime.execute import input_digests
    from typedflow.runtime.recording import task_record

    doc = _varied_wf.ir
    template = doc.tasks[0]
    root = tmp_path_factory.mktemp("rec")
    recorder = LocalRecorder(root, doc, "run-1", "thread")
    digests = input_digests(template, inputs) if digests_known else {}
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
    recorder.node_finished(rep)
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
        outputs=outputs,
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
    status: NodeStatus,
    digests_known: bool,
    cache_key: str | None,
) -> None:
    from typedflow.backends.local.recorder import LocalRecorder
    from typedflow.backends.local.reports import NodeReport

    from typedflow.runtime.execute import input_digests
    from typedflow.runtime.recording import task_record

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
    recorder.node_finished(rep)
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


def test_a_record_says_what_the_values_were_when_the_task_ended(tmp_path: Path) -> None:
    """Records are encoded a group at a time, later than their tasks end: a value a later task changes
    in place meanwhile (an input of type Any is the producer's very object) is recorded as it was."""
    from typedflow.backends.local.recorder import LocalRecorder
    from typedflow.backends.local.reports import NodeReport

    from typedflow.ir.canonical import digest

    doc = _one_wf.ir
    template = doc.tasks[0]
    recorder = LocalRecorder(tmp_path, doc, "run-1", "thread")
    out = {"a": 1}
    inputs: dict[str, object] = {"rows": [1, 2]}
    recorder.node_finished(
        NodeReport("n0", "n0", template.name, "succeeded", attempts=1, inputs=inputs, outputs={"out": out})
    )
    assert recorder.log.pending == 0  # not yet handed to the log
    out["a"] = 2
    inputs["rows"] = [3]
    recorder.close()
    ((written, _),) = LineageLog(tmp_path / "lineage" / "log.jsonl").records()
    assert written.outputs[0].digest == digest({"a": 1})
    assert written.inputs[0].digest == digest([1, 2])
