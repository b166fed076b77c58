"""Records: one converter, canonical bytes, hashes, helpers."""

from __future__ import annotations

import json
import re

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow.ir.canonical import canonical_bytes, sha256_hex
from typedflow.lineage import LineageRecord, ValueRef, identity, now_rfc3339, record_hash, safe_parameters
from typedflow.lineage.log import _prepare
from typedflow.lineage.record import record_from_bytes, record_from_dict, record_line, record_to_dict


def test_round_trip_and_canonical_bytes(make_record) -> None:
    rec = make_record(3, parameters={"lr": 0.5, "name": "é", "flag": True}, image="img@sha256:" + "f" * 64)
    line = record_line(rec)
    assert line == canonical_bytes(json.loads(line))
    assert record_from_bytes(line) == rec
    assert record_hash(rec) == sha256_hex(line)
    data = record_to_dict(rec)
    assert data["inputs"] == [{"name": "x", "digest": rec.inputs[0].digest, "uri": None, "sha256": None}]
    assert set(data) == {f.name for f in attrs.fields(LineageRecord)}


def test_hash_covers_chain_fields(make_record) -> None:
    rec = make_record()
    assert record_hash(rec) != record_hash(attrs.evolve(rec, seq=0))
    assert record_hash(rec) != record_hash(attrs.evolve(rec, prev_hash="0" * 64))


def test_unknown_or_bad_fields_are_rejected(make_record) -> None:
    data = record_to_dict(make_record())
    with pytest.raises(ValueError):
        record_from_dict({**data, "extra": 1})
    with pytest.raises(ValueError):
        record_from_dict({**data, "kind": "other"})
    with pytest.raises(ValueError):
        record_from_dict({**data, "parameters": {"x": [1, 2]}})


def test_now_and_identity() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now_rfc3339())
    user, host = identity()
    assert user and host


def test_safe_parameters_drops_secrets_and_large_values() -> None:
    got = safe_parameters(
        {
            "lr": 0.1,
            "epochs": 3,
            "flag": False,
            "name": "resnet",
            "api_key": "x",
            "DB_PASSWORD": "x",
            "auth_token": "x",
            "client_secret": "x",
            "aws_credentials": "x",
            "blob": "x" * 201,
            "array": [1, 2, 3],
            "nan": float("nan"),
            "none": None,
        }
    )
    assert got == {"lr": 0.1, "epochs": 3, "flag": False, "name": "resnet"}


_scalars = st.one_of(
    st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30)
)
_text = st.text(max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    params=st.dictionaries(_text, _scalars, max_size=4),
    node=_text,
    error=st.none() | _text,
    seq=st.integers(0, 10**9),
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
    names=st.lists(_text, max_size=3),
)
def test_spliced_line_equals_canonical_encoding(make_record, params, node, error, seq, prev, names) -> None:
    # The log encodes a record once and splices seq/prev_hash in at commit; the result must be
    # byte-identical to the converter's canonical encoding of the final record.
    refs = tuple(ValueRef(n, "sha256:" + "e" * 64, uri="file:///" + n) for n in names)
    rec = make_record(node_id=node, error=error, parameters=params, inputs=refs, log_origin="/tmp/log")
    a, b, c = _prepare(rec, "/ignored")
    line = f"{a}{prev}{b}{seq}{c}".encode("ascii")
    assert line == record_line(attrs.evolve(rec, seq=seq, prev_hash=prev))
    assert record_from_bytes(line).seq == seq


def test_prepare_fills_log_origin_only_when_empty(make_record) -> None:
    a, b, c = _prepare(make_record(), "/the/log")
    assert record_from_bytes(f"{a}{'0' * 64}{b}0{c}".encode("ascii")).log_origin == "/the/log"
    a, b, c = _prepare(make_record(log_origin="s3://b/x/"), "/the/log")
    assert record_from_bytes(f"{a}{'0' * 64}{b}0{c}".encode("ascii")).log_origin == "s3://b/x/"


def test_record_ids_are_unique_across_threads_batches_and_fork() -> None:
    import os
    import threading

    from typedflow.lineage.record import _ID_BATCH, new_record_id

    seen: list[list[str]] = [[] for _ in range(4)]

    def draw(out: list[str]) -> None:
        out.extend(new_record_id() for _ in range(3 * _ID_BATCH))

    threads = [threading.Thread(target=draw, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for out in seen for i in out]
    assert len(set(ids)) == len(ids) == 12 * _ID_BATCH
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)

    # A forked child must not hand out the ids its parent has drawn but not yet spent.
    new_record_id()  # leaves spare ids in this process
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        os.write(w, "".join(new_record_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        child = fh.read().decode()
    os.waitpid(pid, 0)
    parent = "".join(new_record_id() for _ in range(5))
    assert len(child) == 160 and child != parent
    assert not {child[i : i + 32] for i in range(0, 160, 32)} & {parent[i : i + 32] for i in range(0, 160, 32)}
