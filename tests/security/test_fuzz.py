"""Fuzzing the parsers of untrusted data: only their documented error types may escape."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typedflow.backends.stepfunctions.request import parse_request

from tests.security import flows
from typedflow.errors import InputError, IRValidationError
from typedflow.ir.codec import compute_digest, converter, dumps, loads
from typedflow.runtime.execute import served_outputs
from typedflow.runtime.inputs import parse_inputs
from typedflow.runtime.store import LocalStore
from typedflow.util.boundary import BoundaryError, parse_json

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
request_keys = st.sampled_from(
    ["v", "ir", "task", "run", "node", "store", "retry", "args", "inline", "elementwise", "offload", "heartbeat", "x"]
)


@SETTINGS
@given(st.dictionaries(request_keys, json_values, max_size=12) | json_values)
def test_task_requests(data: Any) -> None:
    try:
        req = parse_request(data)
    except BoundaryError:
        return
    assert isinstance(req.args, dict) and req.ir.startswith("sha256:")


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_json_of_any_bytes(data: bytes) -> None:
    try:
        parse_json(data, "fuzz", max_depth=5)
    except BoundaryError:
        pass


_VALID = json.loads(dumps(flows.roundtrip.ir))


def _paths(v: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*path, i))
    return out


_ALL_PATHS = [p for p in _paths(_VALID) if p]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(_ALL_PATHS), json_values), min_size=1, max_size=3), st.booleans())
def test_ir_documents(edits: list[tuple[tuple[Any, ...], Any]], redigest: bool) -> None:
    data = json.loads(json.dumps(_VALID))
    for path, value in edits:
        target = data
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    if redigest:  # past the digest check, so the structural checks see the edit
        try:
            from typedflow import ir

            doc = converter.structure(data, ir.WorkflowIR)
            data["digest"] = compute_digest(attrs.evolve(doc, digest=""))
        except Exception:
            pass
    try:
        loads(json.dumps(data))
    except IRValidationError:
        pass


@SETTINGS
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_inputs_files(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "inputs.json")
        path.write_bytes(content)
        try:
            parse_inputs(flows.doubled.ir, [], str(path))
        except InputError:
            pass


@SETTINGS
@given(st.lists(st.text(max_size=30), max_size=4))
def test_command_line_inputs(pairs: list[str]) -> None:
    try:
        parse_inputs(flows.logs_in.ir, pairs, None)
    except InputError:
        pass


_STORE_DIR = Path(tempfile.mkdtemp(prefix="tf-fuzz-store-"))
_STORE = LocalStore(_STORE_DIR)
handles = st.fixed_dictionaries(
    {},
    optional={
        "uri": st.text(max_size=30) | st.just(str(_STORE_DIR / "objects" / "ab" / ("ab" * 32))),
        "sha256": st.text(max_size=64) | st.just("ab" * 32) | st.none(),
        "format": st.text(max_size=10) | st.none(),
        "extra": scalars,
    },
)


@SETTINGS
@given(json_values | st.fixed_dictionaries({"outputs": st.dictionaries(st.just("out"), handles | json_values)}))
def test_cache_entries(entry: Any) -> None:
    for template in (flows.doubled.ir.task("number"), flows.produced.ir.task("write")):
        outputs = served_outputs(entry, template, _STORE)
        if outputs is not None:
            assert outputs.keys() == {p.name for p in template.outputs}
