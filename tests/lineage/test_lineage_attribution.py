"""``lineage trace`` follows each value to the task that produced it, along the workflow's real data
flow: fields of NamedTuples and records, map items and the lists maps collect, sub-workflow inputs
and results, pass-through tasks. Never to the consumer itself, never two producers for one value."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest

from typedflow import map_over, task, workflow
from typedflow.lineage.attribution import Resolver, Source, run_ir_loader
from typedflow.lineage.query import Trace, iter_records, render_trace, trace
from typedflow.runtime.running import RunOptions, run_workflow


@attrs.frozen
class Cfg:
    lr: float
    depth: int


class Scored(NamedTuple):
    cfg: Cfg
    score: float


class Choice(NamedTuple):
    cfg: Cfg
    score: float


@task
def candidates(n: int) -> list[Cfg]:
    return [Cfg(lr=0.1 * (i + 1), depth=i + 1) for i in range(n)]


@task
def evaluate(cfg: Cfg) -> Scored:
    return Scored(cfg, 1.0 - abs(cfg.lr - 0.2))


@task
def pick_best(scored: list[Scored]) -> Choice:
    best = max(scored, key=lambda s: s.score)  # the chosen config equals one item's output
    return Choice(best.cfg, best.score)


@task
def train(lr: float, depth: int) -> str:
    return f"model lr={lr} depth={depth}"


@task
def report(choice: Choice) -> str:
    return f"{choice.cfg} scored {choice.score}"


@task
def same(x: Cfg) -> Cfg:
    return x


@task
def describe(cfg: Cfg, note: str = "chosen") -> str:
    return f"{note} {cfg}"


@workflow
def finalize(cfg: Cfg) -> str:
    return describe(cfg=same(x=cfg))


@task
def summary(text: str, model: str, rep: str) -> str:
    return " | ".join((text, model, rep))


@workflow
def sweep(n: int = 3) -> str:
    scored = map_over(lambda c: evaluate(cfg=c), candidates(n=n))
    best = pick_best(scored=scored)
    model = train(lr=best.cfg.lr, depth=best.cfg.depth)
    return summary(text=finalize(cfg=best.cfg), model=model, rep=report(choice=best))


# The data flow of sweep, read off the code above: (consumer, parameter) <- (producer, output, part, into)
EXPECTED = {
    ("candidates", "n", "run input n", "", "", ""),
    *{(f"map[{i}]/evaluate", "cfg", "candidates", "out", f"[{i}]", "") for i in range(3)},
    *{("pick_best", "scored", f"map[{i}]/evaluate", out, "", f"[{i}]") for i in range(3) for out in ("cfg", "score")},
    ("train", "lr", "pick_best", "cfg", ".lr", ""),
    ("train", "depth", "pick_best", "cfg", ".depth", ""),
    ("report", "choice", "pick_best", "cfg", "", ""),
    ("report", "choice", "pick_best", "score", "", ""),
    ("finalize/same", "x", "pick_best", "cfg", "", ""),
    ("finalize/describe", "cfg", "finalize/same", "out", "", ""),
    ("finalize/describe", "note", "literal", "", "", ""),
    ("summary", "text", "finalize/describe", "out", "", ""),
    ("summary", "model", "train", "out", "", ""),
    ("summary", "rep", "report", "out", "", ""),
}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("home")
    result = run_workflow(sweep, {"n": 3}, RunOptions(store=home))
    assert result.ok
    return home, result


def _trace(home: Path, artifact: str, with_ir: bool = True) -> Trace:
    records = list(iter_records(home / "lineage" / "log.jsonl"))
    return trace(records, artifact, ir_for=run_ir_loader(home) if with_ir else None)


def _flow(t: Trace) -> set[tuple[str, str, str, str, str, str]]:
    producer = {e.target: e.source for e in t.edges if e.label == "generated"}
    out = set()
    for e in t.edges:
        if e.label != "used":
            continue
        consumer = t.nodes[e.target].data["node_id"]
        value = t.nodes[e.source].data
        if e.source in producer:
            out.add((consumer, e.input, t.nodes[producer[e.source]].data["node_id"], value["name"], e.part, e.into))
        else:
            origin = value.get("origin", "source")
            what = f"run input {value['name']}" if origin == "run input" else origin
            out.add((consumer, e.input, what, "", e.part, e.into))
    return out


def _invariants(t: Trace) -> None:
    """Never to itself, never twice."""
    generated = Counter(e.target for e in t.edges if e.label == "generated")
    assert all(n == 1 for n in generated.values()), generated  # one producer per value
    producer = {e.target: e.source for e in t.edges if e.label == "generated"}
    for e in t.edges:
        if e.label == "used" and e.source in producer:
            p, c = t.nodes[producer[e.source]], t.nodes[e.target]
            assert p.id != c.id, "a task used a value it produced"
            assert p.data["seq"] < c.data["seq"], "a value used before it was produced"
    for n in t.nodes.values():
        if n.type == "value":
            assert not (n.data.get("source") and n.id in producer), f"{n.label} is both a source and produced"
    keys = Counter((e.source, e.target, e.label, e.input, e.part, e.into) for e in t.edges)
    assert all(n == 1 for n in keys.values())


def _output_digest(result: Any, home: Path) -> str:
    records = [r for r, _ in iter_records(home / "lineage" / "log.jsonl") if r.run_id == result.run_id]
    return next(r for r in records if r.kind == "run_end").outputs[0].digest


def test_every_value_is_attributed_along_the_real_data_flow(swept) -> None:
    home, result = swept
    t = _trace(home, _output_digest(result, home))
    assert _flow(t) == EXPECTED
    _invariants(t)


def test_a_chosen_config_is_attributed_to_the_task_that_chose_it(swept) -> None:
    """pick_best returns a NamedTuple recorded field by field; the chosen config's digest equals the
    output of the map item that evaluated it. The model is traced to pick_best, not to that item."""
    home, result = swept
    model = next(
        r for r, _ in iter_records(home / "lineage" / "log.jsonl") if r.run_id == result.run_id and r.node_id == "train"
    )
    item_cfgs = {
        o.digest
        for r, _ in iter_records(home / "lineage" / "log.jsonl")
        if (r.node_id or "").endswith("/evaluate")
        for o in r.outputs
        if o.name == "cfg"
    }
    best = next(r for r, _ in iter_records(home / "lineage" / "log.jsonl") if r.node_id == "pick_best").outputs
    assert next(o.digest for o in best if o.name == "cfg") in item_cfgs  # the collision digests invite
    t = _trace(home, model.outputs[0].digest)
    flow = _flow(t)
    assert ("train", "lr", "pick_best", "cfg", ".lr", "") in flow
    assert not any(src.endswith("/evaluate") for c, _, src, *_ in flow if c == "train")
    _invariants(t)
    text = render_trace(t)
    assert "lr = cfg.lr" in text and "produced by sweep.pick_best" in text


def test_a_pass_through_task_keeps_its_input_and_output_apart(swept) -> None:
    home, result = swept
    records = list(iter_records(home / "lineage" / "log.jsonl"))
    same_rec = next(r for r, _ in records if r.run_id == result.run_id and r.node_id == "finalize/same")
    assert same_rec.inputs[0].digest == same_rec.outputs[0].digest
    for with_ir in (True, False):  # along the IR, and by digest when the IR is not at hand
        t = _trace(home, same_rec.outputs[0].digest, with_ir)
        _invariants(t)
        root = t.nodes[t.roots[0]]
        producer = {e.target: e.source for e in t.edges if e.label == "generated"}
        assert t.nodes[producer[root.id]].data["node_id"] == "finalize/same"
        uses = [e for e in t.edges if e.label == "used" and e.target == producer[root.id]]
        assert len(uses) == 1 and uses[0].source != root.id
        assert t.nodes[producer[uses[0].source]].data["node_id"] == "pick_best"
        text = render_trace(t)
        assert "(source)" not in text.split("produced by sweep.pick_best")[0]


def test_map_items_and_collected_lists(swept) -> None:
    home, result = swept
    records = list(iter_records(home / "lineage" / "log.jsonl"))
    pick = next(r for r, _ in records if r.run_id == result.run_id and r.node_id == "pick_best")
    t = _trace(home, next(o.digest for o in pick.outputs if o.name == "score"))
    flow = _flow(t)
    assert {f for f in flow if f[0] == "pick_best"} == {
        ("pick_best", "scored", f"map[{i}]/evaluate", out, "", f"[{i}]") for i in range(3) for out in ("cfg", "score")
    }
    assert {f for f in flow if f[0].startswith("map[")} == {
        (f"map[{i}]/evaluate", "cfg", "candidates", "out", f"[{i}]", "") for i in range(3)
    }
    _invariants(t)
    text = render_trace(t)
    assert "scored[2] = score" in text and "cfg = out[1]" in text


def test_sub_workflow_boundaries(swept) -> None:
    home, result = swept
    records = list(iter_records(home / "lineage" / "log.jsonl"))
    desc = next(r for r, _ in records if r.run_id == result.run_id and r.node_id == "finalize/describe")
    flow = _flow(_trace(home, desc.outputs[0].digest))
    assert ("finalize/same", "x", "pick_best", "cfg", "", "") in flow  # the sub-workflow's input, from outside
    assert ("finalize/describe", "note", "literal", "", "", "") in flow  # a default, not someone's output


def test_resolver_reads_bindings_per_node_key() -> None:
    r = Resolver(sweep.ir)
    assert r.sources("map[7]/evaluate") == {"cfg": [Source("task", "candidates", "out", "[7]")]}
    assert r.sources("pick_best") == {"scored": [Source("task", "map[*]/evaluate", None, "")]}
    assert r.sources("finalize/same") == {"x": [Source("task", "pick_best", "cfg", "")]}
    summary = r.sources("summary")
    assert summary is not None and summary["text"] == [Source("task", "finalize/describe", "out", "")]
    assert r.sources("candidates") == {"n": [Source("input", output="n")]}
    assert r.sources("nope") is None and r.sources("map/evaluate") is None and r.sources("finalize") is None


def test_trace_command_uses_the_runs_ir(swept, capsys) -> None:
    import argparse

    from typedflow.lineage.cli import add_subparser

    home, result = swept
    parser = argparse.ArgumentParser(prog="typedflow")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["lineage", "--log", str(home / "lineage" / "log.jsonl"), "trace", _output_digest(result, home)]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "text = out" in out and "produced by sweep.finalize/describe" in out
    assert "n sha256:" in out and "(run input)" in out


def test_trace_does_not_wait_on_a_fifo_in_place_of_a_runs_ir(tmp_path: Path) -> None:
    """Without the run's IR, inputs are matched by digest (docs/lineage.md): a FIFO there is not read."""
    import os

    from tests.support.cli import run_cli

    result = run_workflow(sweep, {"n": 2}, RunOptions(store=tmp_path))
    ir_json = tmp_path / "runs" / result.run_id / "ir.json"
    ir_json.unlink()
    os.mkfifo(ir_json)
    r = run_cli("lineage", "--log", str(tmp_path / "lineage" / "log.jsonl"), "trace", _output_digest(result, tmp_path))
    assert r.returncode == 0 and "produced by sweep.finalize/describe" in r.stdout, r.stderr
