"""Generated values of every supported type, relayed across task boundaries: a task sees what plain Python
hands it (the same types, values and order) on the local interpreter, in a thread or a worker process,
fresh or from the cache, and on Step Functions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import value_flows as flows
from tests.support.aws import Aws
from tests.support.kfp import run_on_kfp_local
from typedflow.ir.values import encode
from typedflow.runtime.running import RunOptions, run_workflow

LIMIT = 2**53 - 1
ints = st.integers(-LIMIT, LIMIT)
floats = st.floats(allow_nan=False, allow_infinity=False)
offsets = st.builds(
    dt.timezone, st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda m: dt.timedelta(minutes=m))
) | st.just(dt.UTC)
datetimes = st.datetimes(timezones=st.none() | offsets)
texts = st.text(max_size=8)
pairs = st.builds(flows.Pair, texts, floats)


def _sorted(d: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(d.items()))  # the documented normal form: a dict's entries in key order


values = st.builds(
    flows.Values,
    f=floats,
    i=ints,
    s=st.text(),
    b=st.booleans(),
    raw=st.binary(max_size=8),
    at=datetimes,
    day=st.dates(),
    level=st.sampled_from(flows.Level),
    mode=st.sampled_from(flows.Mode),
    fixed=st.tuples(ints, texts),
    seq=st.lists(floats, max_size=3).map(tuple),
    maybe=st.none() | ints,
    maybes=st.lists(st.none() | floats, max_size=3),
    table=st.dictionaries(texts, st.lists(ints, max_size=2), max_size=3).map(_sorted),
    pair=pairs,
    pairs=st.lists(pairs, max_size=2),
)


def python(v: flows.Values) -> str:
    """The body in plain Python: a task called outside a workflow is its function."""
    return flows.describe(flows.relay(flows.relay(v)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_a_task_sees_what_python_hands_it(tmp_path: Path, v: flows.Values) -> None:
    expected = python(v)
    for run in ("fresh", "cached"):
        out = run_workflow(flows.relayed, {"v": v}, RunOptions(store=tmp_path / "s")).outputs
        assert out == {"out": expected}, run


# a worker process is slow to start; the values themselves are covered by the thread runs above
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_a_worker_process_sees_what_python_hands_it(tmp_path: Path, v: flows.Values) -> None:
    out = run_workflow(flows.relayed, {"v": v}, RunOptions(store=tmp_path / "p", isolation="process")).outputs
    assert out == {"out": python(v)}


EDGES = [
    flows.Values(
        f=-0.0,
        i=-LIMIT,
        s="é\U0001f600\n'\"",
        b=False,
        raw=b"\x00\xff",
        at=dt.datetime(2026, 1, 5, 7, 30, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
        day=dt.date(1, 1, 1),
        level=flows.Level.HIGH,
        mode=flows.Mode.FULL,
        fixed=(LIMIT, ""),
        seq=(1e-7, 5e-324, 1.7976931348623157e308),
        maybe=None,
        maybes=[None, 0.0],
        table={},
        pair=flows.Pair("x"),
    ),
    flows.Values(
        f=2.0**53,
        i=0,
        s="",
        b=True,
        raw=b"",
        at=dt.datetime(9999, 12, 31, 23, 59, 59),
        day=dt.date(2026, 2, 28),
        level=flows.Level.LOW,
        mode=flows.Mode.FAST,
        fixed=(0, "\x00"),
        seq=(),
        maybe=LIMIT,
        maybes=[],
        table={"": [], "a": [1], "é": [-1]},
        pair=flows.Pair("", -0.0),
        pairs=[flows.Pair("a", 1e-7)],
    ),
]


def test_a_task_on_step_functions_sees_what_python_hands_it(aws: Aws) -> None:
    for v in EDGES:
        remote = aws.run(flows.relayed.ir, {"v": encode(v, flows.Values)})
        assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
        assert remote.outputs == {"out": python(v)}


def test_a_task_on_vertex_sees_what_python_hands_it(tmp_path: Path) -> None:
    # kfp.local takes no null inside a pipeline argument (Vertex's protobuf Value does): none here
    for n, v in enumerate(dataclasses.replace(e, maybe=7, maybes=[0.0, -0.0]) for e in EDGES):
        out = run_on_kfp_local(flows.relayed, {"v": encode(v, flows.Values)}, tmp_path / str(n))
        assert out == {"out": python(v)}
