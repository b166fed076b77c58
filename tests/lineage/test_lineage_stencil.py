"""A stencil's record bytes are exactly the canonical bytes of the same record built the general way."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
fixed = st.fixed_dictionaries({
    "run_id": text, "workflow": text, "ir_digest": text, "target": text, "executor": text, "task": text,
    "code_digest": opt_text, "image": opt_text, "log_origin": text,
})
varying = st.fixed_dictionaries({
    "node_id": text, "status": st.sampled_from(sorted(STATUSES)), "attempt": st.integers(0, 10**6),
    "inputs": refs, "outputs": refs, "parameters": st.dictionaries(text, scalars, max_size=4),
    "started_at": st.text(min_size=1, max_size=30), "ended_at": opt_text, "cache_key": opt_text, "error": opt_text,
    "record_id": st.text("0123456789abcdef", min_size=32, max_size=32),
})


def general(f: dict[str, object], v: dict[str, object], seq: int, prev: str) -> bytes:
    rec = new_record(
        "task", run_id=f["run_id"], workflow=f["workflow"], ir_digest=f["ir_digest"], target=f["target"],
        executor=f["executor"], status=v["status"], started_at=v["started_at"], ended_at=v["ended_at"],
        node_id=v["node_id"], task=f["task"], code_digest=f["code_digest"], image=f["image"],
        attempt=v["attempt"], inputs=tuple(ValueRef(*r) for r in v["inputs"]),  # type: ignore[attr-defined]
        outputs=tuple(ValueRef(*r) for r in v["outputs"]),  # type: ignore[attr-defined]
        parameters=v["parameters"], cache_key=v["cache_key"], error=v["error"], record_id=v["record_id"],
        log_origin=f["log_origin"], seq=seq, prev_hash=prev,
    )
    return record_line(rec)


@settings(max_examples=200, deadline=None)
@given(fixed, varying, st.integers(0, 10**9), st.text("0123456789abcdef", min_size=64, max_size=64))
def test_stencil_bytes_equal_the_canonical_record(f: dict[str, object], v: dict[str, object], seq: int,
                                                   prev: str) -> None:
    a, b, c = TaskStencil(**f).prepare(**v)  # type: ignore[arg-type]
    line = a + prev.encode() + b + str(seq).encode() + c
    assert line == general(f, v, seq, prev)
    assert isinstance(record_from_bytes(line), LineageRecord)


def test_stencil_fills_id_and_start_like_new_record() -> None:
    st_ = TaskStencil(run_id="r", workflow="w", ir_digest="d", target="local", executor="thread", task="t",
                      code_digest=None, image=None, log_origin="o")
    lines = []
    for _ in range(2):
        a, b, c = st_.prepare(node_id="n", status="succeeded", attempt=1, inputs=[], outputs=[], parameters={},
                              started_at=None, ended_at=None, cache_key=None, error=None)
        lines.append(record_from_bytes(a + b"0" * 64 + b + b"0" + c))
    assert lines[0].record_id != lines[1].record_id and len(lines[0].record_id) == 32
    assert lines[0].started_at.endswith("Z") and (lines[0].user, lines[0].host) == identity()


def test_stencil_rejects_what_a_record_rejects() -> None:
    st_ = TaskStencil(run_id="r", workflow="w", ir_digest="d", target="local", executor="thread", task="t",
                      code_digest=None, image=None, log_origin="o")
    common = {"node_id": "n", "inputs": [], "outputs": [], "parameters": {}, "started_at": None, "ended_at": None,
              "cache_key": None, "error": None}
    with pytest.raises(ValueError, match="status"):
        st_.prepare(status="done", attempt=1, **common)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attempt"):
        st_.prepare(status="failed", attempt="1", **common)  # type: ignore[arg-type]


def test_prepared_records_chain_and_verify(tmp_path: Path) -> None:
    log = LineageLog(tmp_path / "log.jsonl")
    stencil = TaskStencil(run_id="r", workflow="w", ir_digest="d", target="local", executor="thread", task="t",
                          code_digest="c", image="i", log_origin=log.origin)
    log.append(new_record("run_start", run_id="r", workflow="w", ir_digest="d", target="local",
                          executor="thread", status="started"))
    for i in range(250):
        log.append_prepared(stencil.prepare(
            node_id=f"n[{i}]", status="succeeded", attempt=1, inputs=[("x", "sha256:1", None, None)],
            outputs=[("out", "sha256:2", "file:///a", "ab")], parameters={"x": i}, started_at=None,
            ended_at=None, cache_key="k", error=None))
    log.close()
    report = verify_log(tmp_path / "log.jsonl", deep=True)  # deep: every line re-encoded canonically
    assert report.ok and report.count == 251, report.summary()
    recs = [r for r, _ in LineageLog(tmp_path / "log.jsonl").records()]
    assert [r.seq for r in recs] == list(range(251))
    assert recs[-1].node_id == "n[249]" and recs[-1].log_origin == log.origin and recs[-1].parameters == {"x": 249}
