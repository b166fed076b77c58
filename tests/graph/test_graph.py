"""``typedflow graph``: the Mermaid and DOT text has the expected nodes, edges and clusters."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest

from typedflow import map_over, otherwise, task, when, workflow
from typedflow.cli import main
from typedflow.cli.graph import render_graph
from typedflow.cli.loader import load_workflow
from typedflow.runtime.running import RunOptions, run_workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IN_CI = bool(os.environ.get("CI"))


# ----------------------------------------------------------------------------- parsers


@attrs.define
class Parsed:
    title: str = ""
    nodes: dict[str, str] = attrs.Factory(dict)  # id -> label
    edges: set[tuple[str, str, str]] = attrs.Factory(set)  # (src, dst, label)
    clusters: dict[str, str] = attrs.Factory(dict)  # cluster id -> title
    parent: dict[str, str] = attrs.Factory(dict)  # node or cluster id -> enclosing cluster id
    classes: dict[str, str] = attrs.Factory(dict)  # node id -> class (run status)

    def node(self, label_start: str) -> str:
        found = [i for i, lbl in self.nodes.items() if lbl.split("\n")[0] == label_start]
        assert len(found) == 1, (label_start, self.nodes)
        return found[0]

    def edge(self, src: str, dst: str) -> set[str]:
        return {lbl for s, d, lbl in self.edges if (s, d) == (src, dst)}

    def within(self, node: str) -> list[str]:
        """Titles of the clusters around ``node``, innermost first."""
        out = []
        while node in self.parent:
            node = self.parent[node]
            out.append(self.clusters[node])
        return out


_ENTITIES = {"#quot;": '"', "#lt;": "<", "#gt;": ">", "#amp;": "&"}


def _unmermaid(s: str) -> str:
    for k, v in _ENTITIES.items():
        s = s.replace(k, v)
    return s.replace("<br>", "\n")


_M_NODE = re.compile(r'^(\w+)(\(\[|\[\[|\[/|\[\\|\[|\{|>)"(.*)"(\]\)|\]\]|/\]|\]|\})$')
_M_EDGE = re.compile(r'^(\w+) (-->|-\.->)(?:\|"(.*)"\|)? (\w+)$')
_M_SUB = re.compile(r'^subgraph (\w+) \["(.*)"\]$')


def parse_mermaid(text: str) -> Parsed:
    p = Parsed()
    lines = text.splitlines()
    assert lines[0] == "---" and lines[1].startswith("title: ") and lines[2] == "---"
    assert lines[3] == "flowchart TD"
    p.title = lines[1][len("title: ") :].strip('"')
    stack: list[str] = []
    for raw in lines[4:]:
        line = raw.strip()
        if m := _M_SUB.match(line):
            if stack:
                p.parent[m[1]] = stack[-1]
            p.clusters[m[1]] = _unmermaid(m[2])
            stack.append(m[1])
        elif line == "end":
            stack.pop()
        elif m := _M_EDGE.match(line):
            p.edges.add((m[1], m[4], _unmermaid(m[3] or "")))
        elif m := _M_NODE.match(line):
            p.nodes[m[1]] = _unmermaid(m[3])
            if stack:
                p.parent[m[1]] = stack[-1]
        elif line.startswith("classDef "):
            pass
        elif line.startswith("class "):
            _, members, cls = line.split(" ")
            for member in members.split(","):
                p.classes[member] = cls
        else:
            raise AssertionError(f"unparsed Mermaid line: {raw!r}")
    assert not stack, "unbalanced subgraph/end"
    for s, d, _ in p.edges:
        assert s in p.nodes and d in p.nodes, (s, d)
    return p


_D_STR = r'"((?:[^"\\]|\\.)*)"'
_D_NODE = re.compile(rf"^(\w+) \[label={_D_STR}, (.*)\];$")
_D_EDGE = re.compile(rf"^(\w+) -> (\w+) \[label={_D_STR}(, style=dashed)?\];$")
_D_SUB = re.compile(r"^subgraph (cluster_\w+) \{$")
_D_LABEL = re.compile(rf"^label={_D_STR}; style=\w+;")


def _undot(s: str) -> str:
    return s.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_dot(text: str) -> Parsed:
    p = Parsed()
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    stack: list[str] = []
    for raw in lines[1:-1]:
        line = raw.strip()
        if m := _D_SUB.match(line):
            if stack:
                p.parent[m[1]] = stack[-1]
            stack.append(m[1])
        elif line == "}":
            stack.pop()
        elif (m := _D_LABEL.match(line)) and stack:
            p.clusters[stack[-1]] = _undot(m[1])
        elif m := _D_EDGE.match(line):
            p.edges.add((m[1], m[2], _undot(m[3])))
        elif m := _D_NODE.match(line):
            p.nodes[m[1]] = _undot(m[2])
            if stack:
                p.parent[m[1]] = stack[-1]
            if "fillcolor=" in m[3] and "#ffffff" not in m[3]:
                p.classes[m[1]] = re.search(r'fillcolor="([^"]+)"', m[3])[1]  # type: ignore[index]
        elif line.startswith(("label=", "node [", "{ rank=")):
            if line.startswith("label="):
                p.title = _undot(re.match(rf"label={_D_STR}", line)[1])  # type: ignore[index]
        else:
            raise AssertionError(f"unparsed DOT line: {raw!r}")
    assert not stack
    for s, d, _ in p.edges:
        assert s in p.nodes and d in p.nodes, (s, d)
    return p


PARSERS = {"mermaid": parse_mermaid, "dot": parse_dot}


def draw(spec: str, fmt: str, **kw: Any) -> Parsed:
    doc = load_workflow(f"{EXAMPLES / spec}").ir
    return PARSERS[fmt](render_graph(doc, fmt, **kw))


# ----------------------------------------------------------------------------- examples


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_train_tabular_structure(fmt: str) -> None:
    g = draw("train_tabular.py:train_tabular", fmt)
    assert g.title == "train_tabular"
    n = {name: g.node(name) for name in ("ingest", "validate", "split", "train", "evaluate", "register")}
    assert g.edge(n["ingest"], n["validate"]) == {"TypedFile[CSV[Labelled]]"}
    assert g.edge(n["validate"], n["split"]) == {"TypedFile[CSV[Labelled]]"}
    assert g.edge(n["split"], n["train"]) == {"train: TypedFile[CSV[Labelled]]"}
    assert g.edge(n["split"], n["evaluate"]) == {"test: TypedFile[CSV[Labelled]]"}
    assert g.edge(n["train"], n["evaluate"]) == {"TypedDirectory[ModelDir]"}
    assert g.edge(n["evaluate"], n["register"]) == {"Metrics"}
    gate = g.node("evaluate.accuracy >= min_accuracy ?")
    assert g.edge(n["evaluate"], gate) == {"accuracy: float"}
    assert g.edge(g.node("min_accuracy: float = 0.9"), gate) == {"float"}
    assert g.edge(gate, n["register"]) == {"yes"}
    assert g.within(n["register"]) == ["when evaluate.accuracy >= min_accuracy"]
    assert g.within(n["train"]) == []
    assert g.edge(g.node('dataset: str = "breast_cancer"'), n["ingest"]) == {"str"}
    assert g.edge(n["train"], g.node("model: TypedDirectory[ModelDir]")) == {"TypedDirectory[ModelDir]"}


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_sweep_map_body_is_a_cluster(fmt: str) -> None:
    g = draw("sweep.py:sweep", fmt)
    fan, collect = g.node("map: for each float"), g.node("collect list[Metrics]")
    train, evaluate, pick = g.node("train"), g.node("evaluate"), g.node("pick_best")
    for inner in (fan, train, evaluate, collect):
        assert g.within(inner) == ["map_over map"]
    assert g.within(g.node("train-2 (train)")) == []
    assert g.edge(g.node("Cs: list[float] = [0.001, 0.01, 0.1, 1.0, 10.0]"), fan) == {"list[float]"}
    assert g.edge(fan, train) == {"float"}
    assert g.edge(g.node("split-2 (split)"), train) == {"train: TypedFile[CSV[Labelled]]"}
    assert g.edge(evaluate, collect) == {"Metrics"}
    tabulate = g.node("tabulate")
    assert g.within(tabulate) == [] and g.within(pick) == []
    assert g.edge(collect, tabulate) == {"list[Metrics]"}
    assert g.edge(tabulate, pick) == {"TypedFile[Parquet[SweepRow]]"}
    assert g.edge(pick, g.node("train-2 (train)")) == {"float"}
    assert g.edge(collect, g.node("validation: list[Metrics]")) == {"list[Metrics]"}


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_nightly_subworkflow_schedule_and_on_failure(fmt: str) -> None:
    g = draw("nightly.py:nightly", fmt)
    assert g.title == "nightly (schedule: 0 3 * * *)"
    sub, record = g.node("workflow train_tabular"), g.node("record_nightly")
    assert g.edge(sub, record) == {"TrainReport"}
    notify, failure = g.node("notify"), g.node("any node fails")
    assert g.within(notify) == ["on_failure"] == g.within(failure)
    assert g.edge(failure, notify) == {"Failure"}
    assert g.edge(g.node('outbox: str = ".typedflow/outbox"'), notify) == {"str"}


# ----------------------------------------------------------------------------- otherwise, nested blocks


class Score(NamedTuple):
    value: float
    label: str


@task
def measure(x: int) -> Score:
    return Score(float(x), "ok")


@task
def celebrate(s: Score) -> str:
    return s.label


@task
def complain(s: Score) -> str:
    return "low"


@task
def square(x: int) -> int:
    return x * x


@workflow
def branchy(xs: list[int], threshold: float = 2.0) -> list[int]:
    s = measure(3)
    with when(s.value > threshold):
        celebrate(s)
    with otherwise():
        complain(s)
    return map_over(lambda x: square(x), xs, max_concurrency=2)


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_when_otherwise_and_map(fmt: str) -> None:
    g = PARSERS[fmt](render_graph(branchy.ir, fmt))
    gate = g.node("measure.value > threshold ?")
    yes, no = g.node("celebrate"), g.node("complain")
    assert g.edge(gate, yes) == {"yes"} and g.edge(gate, no) == {"no"}
    assert g.within(yes) == ["when measure.value > threshold"] and g.within(no) == ["otherwise"]
    assert g.edge(g.node("measure"), gate) == {"value: float"}
    assert g.edge(g.node("measure"), yes) == {"Score"}
    fan = g.node("map: for each int, at most 2 at once")
    assert g.edge(g.node("xs: list[int]"), fan) == {"list[int]"}
    assert g.edge(fan, g.node("square")) == {"int"}
    assert g.edge(g.node("collect list[int]"), g.node("out: list[int]")) == {"list[int]"}


def test_labels_are_escaped() -> None:
    text = render_graph(branchy.ir, "mermaid")
    assert "measure.value #gt; threshold ?" in text
    dot = render_graph(branchy.ir, "dot")
    assert 'label="measure.value > threshold ?"' in dot


# ----------------------------------------------------------------------------- --run


def test_run_colours_statuses_and_cache_hits(tmp_path: Path) -> None:
    wf = load_workflow(f"{EXAMPLES / 'sweep.py'}:sweep")
    opts = RunOptions(store=tmp_path)
    run_workflow(wf, {"Cs": [0.1, 1.0]}, opts)
    second = run_workflow(wf, {"Cs": [0.1, 1.0]}, opts)
    assert second.cache_hits == len(second.nodes)
    out = tmp_path / "g.mmd"
    rc = main(
        ["graph", f"{EXAMPLES / 'sweep.py'}:sweep", "--run", second.run_id, "--store", str(tmp_path), "-o", str(out)]
    )
    assert rc == 0
    g = parse_mermaid(out.read_text())
    assert g.title == f"sweep · run {second.run_id}: succeeded"
    train = g.node("train")
    assert g.classes[train] == "cached"
    assert g.nodes[train] == "train\n2 cache hit"  # one box for both map items
    assert g.nodes[g.node("pick_best")] == "pick_best\ncache hit"
    assert g.nodes[g.node("map: for each float")] == "map: for each float"  # only tasks carry a status


def test_run_marks_failed_and_skipped_and_needs_no_code(tmp_path: Path) -> None:
    wf = load_workflow(f"{EXAMPLES / 'train_tabular.py'}:train_tabular")
    res = run_workflow(wf, {"min_class_fraction": 0.45, "registry": str(tmp_path / "r")}, RunOptions(store=tmp_path))
    assert res.status == "failed"
    out = tmp_path / "g.dot"
    # No FILE:WORKFLOW: the IR stored with the run is drawn.
    assert main(["graph", "--run", res.run_id, "--store", str(tmp_path), "-o", str(out)]) == 0
    text = out.read_text()
    g = parse_dot(text)
    assert g.title.endswith(f"run {res.run_id}: failed")
    assert g.nodes[g.node("ingest")] == "ingest\nsucceeded"
    assert g.nodes[g.node("validate")] == "validate\nfailed"
    assert g.nodes[g.node("split")] == "split\nskipped"
    assert g.classes[g.node("validate")] == "#ffe3e3"


def test_run_status_falls_back_on_the_journal_when_status_json_is_lost(tmp_path: Path) -> None:
    from typedflow.cli.graph import build_graph, read_run

    wf = load_workflow(f"{EXAMPLES / 'train_tabular.py'}:train_tabular")
    res = run_workflow(wf, {"min_class_fraction": 0.45, "registry": str(tmp_path / "r")}, RunOptions(store=tmp_path))
    graph = build_graph(wf.ir)
    status_json = res.run_dir / "status.json"
    journal = res.run_dir / "journal.jsonl"
    seen = []
    for damage in ("none", "empty", "missing", "no end line"):
        if damage == "empty":  # what a power loss can leave of a file written without fsync
            status_json.write_bytes(b"")
        elif damage == "missing":
            status_json.unlink()
        elif damage == "no end line":  # killed: the journal has not ended and nothing holds the run
            journal.write_bytes(b"".join(journal.read_bytes().splitlines(keepends=True)[:-1]))
        seen.append(read_run(tmp_path, res.run_id, graph).status)
    assert seen == ["failed", "failed", "failed", "interrupted"]  # as `typedflow runs show` says


def test_unknown_run_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["graph", f"{EXAMPLES / 'sweep.py'}:sweep", "--run", "nope", "--store", str(tmp_path)])
    assert rc == 2
    assert "no run 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["not utf-8", "link"])
def test_a_damaged_run_ir_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str) -> None:
    wf = load_workflow(f"{EXAMPLES / 'sweep.py'}:sweep")
    res = run_workflow(wf, {"Cs": [0.1]}, RunOptions(store=tmp_path))
    ir_json = res.run_dir / "ir.json"
    if damage == "not utf-8":
        ir_json.write_bytes(b"\xff\xfe{}")
    else:  # the run's IR must be its own, as `runs` reads it
        (tmp_path / "other.json").write_bytes(ir_json.read_bytes())
        ir_json.unlink()
        ir_json.symlink_to(tmp_path / "other.json")
    capsys.readouterr()
    assert main(["graph", "--run", res.run_id, "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert ("not UTF-8" if damage == "not utf-8" else "is a symbolic link") in err


def test_a_run_of_another_workflow_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = load_workflow(f"{EXAMPLES / 'sweep.py'}:sweep")
    res = run_workflow(wf, {"Cs": [0.1]}, RunOptions(store=tmp_path))
    capsys.readouterr()
    spec = f"{EXAMPLES / 'train_tabular.py'}:train_tabular"
    assert main(["graph", spec, "--run", res.run_id, "--store", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"run {res.run_id} is a run of sweep, not of train_tabular" in captured.err


def test_graph_from_compiled_ir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir_file = tmp_path / "wf.json"
    assert (
        main(["compile", f"{EXAMPLES / 'train_tabular.py'}:train_tabular", "--target", "ir", "-o", str(ir_file)]) == 0
    )
    capsys.readouterr()
    assert main(["graph", "--ir", str(ir_file), "--format", "mermaid"]) == 0
    g = parse_mermaid(capsys.readouterr().out)
    assert g.edge(g.node("ingest"), g.node("validate")) == {"TypedFile[CSV[Labelled]]"}


# ----------------------------------------------------------------------------- SVG


def test_svg_with_graphviz(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        if IN_CI:
            pytest.fail("Graphviz `dot` is not installed, and CI must test SVG output (apt-get install graphviz)")
        pytest.skip("Graphviz `dot` is not installed")
    for spec in (
        "train_tabular.py:train_tabular",
        "sweep.py:sweep",
        "finetune_data.py:finetune_data",
        "nightly.py:nightly",
    ):
        out = tmp_path / (spec.split(":")[1] + ".svg")
        assert main(["graph", f"{EXAMPLES / spec}", "-o", str(out)]) == 0  # format from the suffix
        svg = out.read_text()
        assert "<svg" in svg and "</svg>" in svg
        assert "TypedFile[CSV[Labelled]]" in svg or "TypedFile[ChatJSONL]" in svg or "TrainReport" in svg
    # DOT of a nested workflow is accepted by Graphviz as is.
    proc = subprocess.run(
        ["dot", "-Tsvg"], input=render_graph(branchy.ir, "dot"), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_svg_without_graphviz_is_a_clear_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("typedflow.cli.graph.shutil.which", lambda name: None)
    rc = main(["graph", f"{EXAMPLES / 'sweep.py'}:sweep", "--format", "svg"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Graphviz" in err and "--format dot" in err
