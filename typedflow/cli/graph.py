"""``typedflow graph``: a picture of a workflow's IR as Mermaid, Graphviz DOT or SVG.

The picture is drawn from the IR alone (so ``--ir`` documents and past runs can be drawn without
their code): task nodes, edges labelled with the type that flows along them, ``when`` branches and
``map_over`` bodies as clusters, workflow inputs and outputs. ``--run`` colours nodes by the status
they had in a past local run and marks cache hits.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.cli.documents import load_ir, write_output
from typedflow.cli.runops import RunDetail, RunNotFound, RunOpError
from typedflow.cli.runs import LOCAL, ops_for, run_document
from typedflow.ir import render
from typedflow.ir.types import field_type
from typedflow.util.statedir import home, path_arg

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
FORMATS = ("mermaid", "dot", "svg")
_SUFFIX_FORMAT = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "mermaid",
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
}

# ----------------------------------------------------------------------------- the graph model


@attrs.define
class GNode:
    """A drawn node. ``kind``: input, output, task, subworkflow, decision, map, collect, failure."""

    id: str
    label: str
    kind: str
    status: str = ""
    note: str = ""


@attrs.frozen
class GEdge:
    src: str
    dst: str
    label: str = ""
    dashed: bool = False


@attrs.define
class Cluster:
    """A box around nodes: a ``when`` branch, a ``map_over`` body or the failure handler."""

    id: str
    label: str
    kind: str
    members: list[str] = attrs.Factory(list)
    children: list[Cluster] = attrs.Factory(list)


@attrs.define
class Graph:
    title: str
    nodes: dict[str, GNode] = attrs.Factory(dict)
    edges: list[GEdge] = attrs.Factory(list)
    root: Cluster = attrs.Factory(lambda: Cluster("root", "", "root"))
    inputs: list[str] = attrs.Factory(list)
    outputs: list[str] = attrs.Factory(list)

    def add(self, node: GNode, where: Cluster) -> None:
        self.nodes[node.id] = node
        where.members.append(node.id)

    def edge(self, edge: GEdge) -> None:
        if edge not in self.edges:  # two args fed by the same value draw one edge
            self.edges.append(edge)


# ----------------------------------------------------------------------------- IR -> graph


def _short(value: Any, limit: int = 32) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Builder:
    def __init__(self, doc: ir.WorkflowIR) -> None:
        self.doc = doc
        wf = doc.workflow
        title = wf.name + (f" (schedule: {wf.schedule})" if wf.schedule else "")
        self.g = Graph(title)
        self.by_id: dict[str, ir.Node] = {n.id: n for n in ir.walk(wf.nodes)}

    # ------------------------------------------------------------------ ids of drawn nodes
    @staticmethod
    def input_id(name: str) -> str:
        return "in:" + name

    def entry(self, node: ir.Node) -> str:
        """The drawn node where control enters an IR node (a block's first box)."""
        return node.id

    def source(self, b: ir.Binding) -> str | None:
        """The drawn node a value comes from (None for constants)."""
        if isinstance(b, ir.FailureRef):
            return "failure"
        if isinstance(b, ir.InputRef):
            return self.input_id(b.name)
        if isinstance(b, ir.OutputRef):
            n = self.by_id.get(b.node)
            return f"{b.node}:collect" if isinstance(n, ir.MapNode) else b.node
        if isinstance(b, ir.ItemRef):
            return b.map
        return None

    # ------------------------------------------------------------------ types
    def source_type(self, b: ir.Binding) -> ir.TypeRef | None:
        t: ir.TypeRef | None = None
        if isinstance(b, ir.FailureRef):
            t = ir.TypeRef("record", name="typedflow.dsl.failure:Failure")
        elif isinstance(b, ir.InputRef):
            t = next((p.type for p in self.doc.workflow.inputs if p.name == b.name), None)
        elif isinstance(b, ir.ItemRef):
            m = self.by_id.get(b.map)
            t = m.item_type if isinstance(m, ir.MapNode) else None
        elif isinstance(b, ir.OutputRef):
            n = self.by_id.get(b.node)
            if n is None:
                return None
            if b.output is None:
                if isinstance(n, ir.TaskNode):
                    t = self.doc.task(n.task).returns
                elif isinstance(n, ir.SubWorkflowNode):
                    t = self.doc.subworkflow(n.workflow).returns
            else:
                t = next((p.type for p in ir.node_outputs(n, self.doc) if p.name == b.output), None)
        else:
            return None
        for name in b.path:
            if t is None:
                return None
            t = field_type(t.args[0] if t.kind == "optional" else t, name)
        return t

    def edge_label(self, b: ir.Binding, optional: bool = False) -> str:
        t = self.source_type(b)
        text = render(t) if t is not None else "?"
        if optional and t is not None and t.kind != "optional":
            text += " | None"
        field: tuple[str, ...] = tuple(b.path) if isinstance(b, ir.InputRef | ir.ItemRef | ir.OutputRef) else ()
        if isinstance(b, ir.OutputRef) and b.output not in (None, "out"):
            field = (b.output, *field)
        return f"{'.'.join(field)}: {text}" if field else text

    def operand(self, b: ir.Binding) -> str:
        if isinstance(b, ir.Const):
            return _short(b.value)
        if isinstance(b, ir.InputRef):
            return ".".join((b.name, *b.path))
        if isinstance(b, ir.ItemRef):
            return ".".join(("item", *b.path))
        if isinstance(b, ir.OneOf):
            return "one_of(" + ", ".join(self.operand(o) for o in b.options) + ")"
        if isinstance(b, ir.FailureRef):
            return ".".join(("failure", *b.path))
        parts = [b.node] + ([b.output] if b.output not in (None, "out") else []) + list(b.path)
        return ".".join(p for p in parts if p)

    def condition(self, c: ir.Condition) -> str:
        if isinstance(c, ir.Compare):
            return f"{self.operand(c.left)} {c.op} {self.operand(c.right)}"
        if isinstance(c, ir.Not):
            return f"not ({self.condition(c.term)})"
        sep = " and " if isinstance(c, ir.And) else " or "
        return sep.join(f"({self.condition(t)})" for t in c.terms)

    @staticmethod
    def condition_bindings(c: ir.Condition) -> Iterator[ir.Binding]:
        if isinstance(c, ir.Compare):
            yield c.left
            yield c.right
        elif isinstance(c, ir.Not):
            yield from _Builder.condition_bindings(c.term)
        else:
            for t in c.terms:
                yield from _Builder.condition_bindings(t)

    # ------------------------------------------------------------------ building
    def build(self) -> Graph:
        g, wf = self.g, self.doc.workflow
        for p in wf.inputs:
            default = f" = {_short(p.default)}" if p.has_default else ""
            g.add(GNode(self.input_id(p.name), f"{p.name}: {p.type}{default}", "input"), g.root)
            g.inputs.append(self.input_id(p.name))
        self.block(wf.nodes, g.root)
        for a in wf.results:
            oid = "out:" + a.param
            out_t = next((p.type for p in wf.outputs if p.name == a.param), None)
            g.add(GNode(oid, f"{a.param}: {render(out_t) if out_t else '?'}", "output"), g.root)
            g.outputs.append(oid)
            self.link(a.value, oid, a.optional)
        if wf.on_failure is not None:
            of = wf.on_failure
            box = Cluster("on_failure", "on_failure", "on_failure")
            g.root.children.append(box)
            g.add(GNode("failure", "any node fails", "failure"), box)
            nid = "on_failure:" + of.task
            g.add(GNode(nid, of.task, "task"), box)
            if not any(isinstance(a.value, ir.FailureRef) for a in of.args):
                g.edge(GEdge("failure", nid, "", dashed=True))
            for a in of.args:
                self.link(a.value, nid, a.optional)
        return g

    def link(self, b: ir.MapResult, dst: str, optional: bool = False) -> None:
        if isinstance(b, ir.OneOf):  # whichever branch ran: an edge from each
            for o in b.options:
                self.link(o, dst, optional)
            return
        if isinstance(b, ir.RecordOf):  # a record built of values: an edge from each field's
            for a in b.fields:
                self.link(a.value, dst, optional or a.optional)
            return
        src = self.source(b)
        if src is not None:
            self.g.edge(GEdge(src, dst, self.edge_label(b, optional)))

    def block(self, nodes: tuple[ir.Node, ...], where: Cluster) -> None:
        for n in nodes:
            if isinstance(n, ir.TaskNode):
                label = n.id if n.id == n.task else f"{n.id} ({n.task})"
                self.g.add(GNode(n.id, label, "task"), where)
                for a in n.args:
                    self.link(a.value, n.id, a.optional)
            elif isinstance(n, ir.SubWorkflowNode):
                self.g.add(
                    GNode(
                        n.id,
                        f"workflow {n.workflow}" if n.id == n.workflow else f"{n.id} (workflow {n.workflow})",
                        "subworkflow",
                    ),
                    where,
                )
                for a in n.args:
                    self.link(a.value, n.id, a.optional)
            elif isinstance(n, ir.MapNode):
                self.map_node(n, where)
            elif isinstance(n, ir.FailNode):
                self.g.add(GNode(n.id, f"fail: {n.message[:60]}", "failure"), where)
            elif isinstance(n, ir.ExitHandlerNode):
                box = Cluster(n.id, f"exit_handler {n.handler.task}", "branch")
                where.children.append(box)
                self.block(n.body, box)
                hid = f"{n.id}:handler"
                self.g.add(GNode(hid, f"{n.handler.task} (always)", "task"), where)
                for m in n.body:
                    self.g.edge(GEdge(self.entry(m), hid, "then", dashed=True))
                for a in n.handler.args:
                    if not isinstance(a.value, ir.FailureRef):
                        self.link(a.value, hid, a.optional)
            else:
                self.conditional(n, where)
            for other in n.after:  # an ordering edge: drawn dashed, it carries no value
                self.g.edge(GEdge(other, self.entry(n), "after", dashed=True))

    def map_node(self, n: ir.MapNode, where: Cluster) -> None:
        box = Cluster(n.id, f"map_over {n.id}", "map")
        where.children.append(box)
        extra = f", at most {n.max_concurrency} at once" if n.max_concurrency else ""
        items = n.items.value
        literal = f" over {_short(items.value)}" if isinstance(items, ir.Const) else ""
        self.g.add(GNode(n.id, f"{n.id}: for each {render(n.item_type)}{literal}{extra}", "map"), box)
        self.link(items, n.id, n.items.optional)
        self.block(n.body, box)
        collect = f"{n.id}:collect"
        self.g.add(GNode(collect, f"collect list[{render(n.result_type)}]", "collect"), box)
        self.link(n.result, collect)

    def conditional(self, n: ir.ConditionalNode, where: Cluster) -> None:
        first = n.branches[0].condition if n.branches else None
        self.g.add(GNode(n.id, self.condition(first) + " ?" if first is not None else n.id, "decision"), where)
        seen: set[str] = set()
        for br in n.branches:
            if br.condition is None:
                continue
            for b in self.condition_bindings(br.condition):
                src = self.source(b)
                if src is not None and src not in seen:
                    seen.add(src)
                    self.g.edge(GEdge(src, n.id, self.edge_label(b)))
        for i, br in enumerate(n.branches):
            yes = br.condition is not None
            title = f"when {self.condition(br.condition)}" if br.condition is not None else "otherwise"
            box = Cluster(f"{n.id}:{i}", title, "branch")
            where.children.append(box)
            self.block(br.nodes, box)
            inner = {m.id for m in br.nodes}
            for m in br.nodes:
                # Entry nodes of the branch: those that wait for nothing else in the same branch.
                if not _referenced(m) & inner:
                    label = "yes" if yes and i == 0 else ("no" if not yes else f"branch {i + 1}")
                    self.g.edge(GEdge(n.id, self.entry(m), label, dashed=True))


def _bindings(node: ir.Node) -> Iterator[ir.Binding]:
    for n in ir.walk((node,)):
        if isinstance(n, ir.TaskNode | ir.SubWorkflowNode):
            yield from (a.value for a in n.args)
        elif isinstance(n, ir.MapNode):
            yield n.items.value
            if isinstance(n.result, ir.RecordOf):
                yield from (a.value for a in n.result.fields)
            else:
                yield n.result
        elif isinstance(n, ir.ConditionalNode):
            for br in n.branches:
                if br.condition is not None:
                    yield from _Builder.condition_bindings(br.condition)


def _referenced(node: ir.Node) -> set[str]:
    """Ids of the nodes whose outputs ``node`` (or anything nested in it) reads."""
    return {b.node for b in _bindings(node) if isinstance(b, ir.OutputRef)}


def build_graph(doc: ir.WorkflowIR) -> Graph:
    """The drawable graph of a workflow IR."""
    return _Builder(doc).build()


# ----------------------------------------------------------------------------- run status


@attrs.frozen
class RunStatus:
    run_id: str
    status: str  # succeeded, failed, or running (the run has not ended)
    nodes: dict[str, Counter[str]]  # drawn node id -> statuses of its instances


def _drawn_id(key: str, graph: Graph) -> str | None:
    """The drawn node of a journal key like ``train``, ``map[3]/score`` or ``sub/train``."""
    if key.startswith("on_failure/"):
        nid = "on_failure:" + key.split("/", 1)[1]
        return nid if nid in graph.nodes else None
    for part in key.split("/"):
        seg = re.sub(r"\[\d+\]$", "", part)
        node = graph.nodes.get(seg)
        if node is None:
            return None
        if node.kind in ("task", "subworkflow"):
            return seg  # a sub-workflow is one box: its inner nodes count towards it
    return None


def run_status(detail: RunDetail, graph: Graph) -> RunStatus:
    """A run's node statuses (as ``typedflow runs show`` reads them) by drawn node."""
    nodes: dict[str, Counter[str]] = {}
    for n in detail.nodes:
        nid = _drawn_id(n.key, graph)
        if nid is not None and n.status:
            nodes.setdefault(nid, Counter())[n.status] += 1
    return RunStatus(detail.summary.run_id, detail.summary.status, nodes)


def read_run(store: Path, run_id: str, graph: Graph) -> RunStatus:
    """Node statuses of a past local run under ``store``."""
    return run_status(ops_for(argparse.Namespace(target=LOCAL, store=str(store)), {}).show(run_id), graph)


_PRECEDENCE = ("failed", "skipped", "running", "succeeded", "cached")


def apply_run(graph: Graph, run: RunStatus) -> None:
    """Set each node's status (worst instance wins) and a note such as ``3 succeeded, 1 cache hit``."""
    graph.title += f" · run {run.run_id}: {run.status}"
    for nid, node in graph.nodes.items():
        if node.kind not in ("task", "subworkflow"):
            continue
        counts = run.nodes.get(nid)
        if not counts:
            node.status = "pending" if run.status == "running" else "notrun"
            node.note = "pending" if run.status == "running" else "not run"
            continue
        node.status = next(s for s in (*_PRECEDENCE, *counts) if counts.get(s))
        words = {"cached": "cache hit"}
        parts = [
            f"{counts[s]} {words.get(s, s)}" if sum(counts.values()) > 1 else words.get(s, s)
            for s in (*_PRECEDENCE, *sorted(set(counts) - set(_PRECEDENCE)))
            if counts.get(s)
        ]
        node.note = ", ".join(parts)


# ----------------------------------------------------------------------------- Mermaid

_MERMAID_SHAPES = {
    "input": ('(["', '"])'),
    "output": ('(["', '"])'),
    "task": ('["', '"]'),
    "subworkflow": ('[["', '"]]'),
    "decision": ('{"', '"}'),
    "map": ('[/"', '"/]'),
    "collect": ('[\\"', '"/]'),
    "failure": ('>"', '"]'),
}
_STYLES = {
    "succeeded": ("#d3f9d8", "#2b8a3e", "#000000"),
    "cached": ("#d0ebff", "#1c7ed6", "#000000"),
    "failed": ("#ffe3e3", "#c92a2a", "#000000"),
    "skipped": ("#f1f3f5", "#adb5bd", "#868e96"),
    "notrun": ("#f8f9fa", "#ced4da", "#868e96"),
    "pending": ("#fff9db", "#f08c00", "#000000"),
    "running": ("#fff9db", "#f08c00", "#000000"),
}


def _mermaid_text(s: str) -> str:
    # Mermaid's own entity codes: a quote would end the label, < and > would be read as HTML.
    return s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _label(node: GNode, newline: str) -> str:
    return node.label + (f"{newline}{node.note}" if node.note else "")


_RESERVED = frozenset(
    {
        "end",
        "graph",
        "subgraph",
        "digraph",
        "node",
        "edge",
        "strict",
        "style",
        "class",
        "classdef",
        "click",
        "flowchart",
        "default",
    }
)


class _Ids:
    """Short identifiers safe in Mermaid and DOT (node ids hold ``:`` ``-`` ``[``)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, key: str) -> str:
        got = self.ids.get(key)
        if got is None:
            base = re.sub(r"\W", "_", key, flags=re.ASCII) or "n"
            if base[0].isdigit():
                base = "n_" + base
            got = base
            n = 1
            while got in self.ids.values() or got.lower() in _RESERVED:
                n += 1
                got = f"{base}_{n}"
            self.ids[key] = got
        return got


def to_mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart``: paste into Markdown on GitHub/GitLab or mermaid.live."""
    ids = _Ids()
    lines = ["---", f"title: {json.dumps(graph.title, ensure_ascii=False)}", "---", "flowchart TD"]

    def emit(c: Cluster, indent: str) -> None:
        for nid in c.members:
            n = graph.nodes[nid]
            left, right = _MERMAID_SHAPES[n.kind]
            lines.append(f"{indent}{ids(nid)}{left}{_mermaid_text(_label(n, '<br>'))}{right}")
        for child in c.children:
            lines.append(f'{indent}subgraph {ids("cluster:" + child.id)} ["{_mermaid_text(child.label)}"]')
            emit(child, indent + "  ")
            lines.append(f"{indent}end")

    emit(graph.root, "  ")
    for e in graph.edges:
        arrow = "-.->" if e.dashed else "-->"
        label = f'|"{_mermaid_text(e.label)}"|' if e.label else ""
        lines.append(f"  {ids(e.src)} {arrow}{label} {ids(e.dst)}")
    io = [ids(n) for n in (*graph.inputs, *graph.outputs)]
    lines.append("  classDef io fill:#fff,stroke:#868e96,stroke-dasharray:3 3")
    if io:
        lines.append(f"  class {','.join(io)} io")
    by_status: dict[str, list[str]] = {}
    for nid, n in graph.nodes.items():
        if n.status:
            by_status.setdefault(n.status, []).append(ids(nid))
    for status, members in sorted(by_status.items()):
        fill, stroke, color = _STYLES.get(status, _STYLES["notrun"])
        lines.append(f"  classDef {status} fill:{fill},stroke:{stroke},color:{color}")
        lines.append(f"  class {','.join(members)} {status}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- DOT

_DOT_SHAPES = {
    "input": 'shape=box, style="rounded,dashed"',
    "output": 'shape=box, style="rounded,dashed"',
    "task": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
    "subworkflow": "shape=box3d",
    "decision": "shape=diamond",
    "map": "shape=parallelogram",
    "collect": "shape=invtrapezium",
    "failure": "shape=octagon",
}


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    """A Graphviz ``digraph``; render with ``dot -Tsvg``."""
    ids = _Ids()
    lines = [
        f"digraph {_dot_str(graph.title)} {{",
        f"  label={_dot_str(graph.title)}; labelloc=t; rankdir=TB; fontname=Helvetica;",
        "  node [fontname=Helvetica, fontsize=11]; edge [fontname=Helvetica, fontsize=9];",
    ]

    def emit(c: Cluster, indent: str) -> None:
        for nid in c.members:
            n = graph.nodes[nid]
            attrs_ = _DOT_SHAPES[n.kind]
            if n.status:
                fill, stroke, color = _STYLES.get(n.status, _STYLES["notrun"])
                style = '"rounded,filled,dashed"' if n.status in ("skipped", "notrun") else '"rounded,filled"'
                attrs_ = (
                    f"shape=box, style={style}, fillcolor={_dot_str(fill)}, color={_dot_str(stroke)}, "
                    f"fontcolor={_dot_str(color)}"
                )
            lines.append(f"{indent}{ids(nid)} [label={_dot_str(_label(n, chr(10)))}, {attrs_}];")
        for child in c.children:
            style = "dashed" if child.kind == "branch" else "rounded"
            lines.append(f"{indent}subgraph {ids('cluster_' + child.id)} {{")
            lines.append(f'{indent}  label={_dot_str(child.label)}; style={style}; color="#868e96";')
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit(graph.root, "  ")
    for group, rank in ((graph.inputs, "source"), (graph.outputs, "sink")):
        if group:
            lines.append(f"  {{ rank={rank}; {'; '.join(ids(n) for n in group)}; }}")
    for e in graph.edges:
        extra = ", style=dashed" if e.dashed else ""
        lines.append(f"  {ids(e.src)} -> {ids(e.dst)} [label={_dot_str(e.label)}{extra}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(graph: Graph) -> str:
    """SVG rendered by Graphviz ``dot`` (raises :class:`GraphvizMissing` when it is not installed)."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            "--format svg needs Graphviz's `dot` on PATH (e.g. `apt-get install graphviz` or "
            "`brew install graphviz`); or use --format dot / --format mermaid"
        )
    proc = subprocess.run([exe, "-Tsvg"], input=to_dot(graph), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dot -Tsvg failed: {proc.stderr.strip()}")
    return proc.stdout


class GraphvizMissing(RuntimeError):
    """Graphviz is needed for SVG output and is not installed."""


def render_graph(doc: ir.WorkflowIR, fmt: str = "mermaid", run: RunStatus | None = None) -> str:
    """The workflow drawn in ``fmt`` (mermaid, dot or svg), coloured by ``run`` when given."""
    graph = build_graph(doc)
    if run is not None:
        apply_run(graph, run)
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "svg":
        return to_svg(graph)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


# ----------------------------------------------------------------------------- CLI


def cmd_graph(args: argparse.Namespace) -> int:
    """Handler of ``typedflow graph``."""

    fmt = args.format or _SUFFIX_FORMAT.get(Path(args.output or "").suffix.lower(), "mermaid")
    store = Path(args.store) if args.store else home()
    run = None
    if args.run is not None:  # "" too: a bad run id, not a drawing without a run
        try:
            # A past run keeps the IR it ran (read as runs read it: a link, a FIFO, a damaged file are
            # bad input), so it can be drawn without the code.
            ran: ir.WorkflowIR = run_document(store, args.run)
            doc = ran if not args.spec and not args.ir else load_ir(args)[0]
            if doc.workflow.name != ran.workflow.name:  # the colours of one workflow on another's nodes
                raise RunOpError(f"run {args.run} is a run of {ran.workflow.name}, not of {doc.workflow.name}")
            run = read_run(store, args.run, build_graph(doc))
        except (RunNotFound, RunOpError) as exc:
            print(f"typedflow graph: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        doc, _ = load_ir(args)
    try:
        text = render_graph(doc, fmt, run)
    except GraphvizMissing as exc:
        print(f"typedflow graph: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:
        print(f"typedflow graph: {exc}", file=sys.stderr)
        return EXIT_FAIL
    try:
        write_output(text, args.output)
    except BrokenPipeError:  # stdout's reader has gone: main() exits 141
        raise
    except OSError as exc:  # a folder, a place nothing can be written: nothing was written
        print(f"typedflow graph: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output and args.output != "-":
        print(f"wrote {args.output} ({fmt}, {len(text.encode())} bytes)", file=sys.stderr)
    return EXIT_OK


def add_subparser(subparsers: Any) -> None:
    """Register ``typedflow graph`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "graph",
        help="draw a workflow as Mermaid, Graphviz DOT or SVG",
        description="Draw a workflow from its IR: tasks, edges labelled with the types that flow along them, "
        "`when` branches and `map_over` bodies as clusters, inputs and outputs. With --run, colour "
        "nodes by their status in a past local run and mark cache hits.",
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="FILE_OR_MODULE:WORKFLOW",
        help="the workflow, e.g. pipeline.py:training (optional with --ir or --run)",
    )
    p.add_argument("--ir", metavar="FILE", help="draw a compiled IR document instead of importing code")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o suffix .mmd/.dot/.gv/.svg, else mermaid); svg needs Graphviz's `dot`",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="write here (atomically) instead of stdout")
    p.add_argument("--run", metavar="RUN_ID", help="colour nodes by their status in this local run")
    p.add_argument(
        "--store",
        type=path_arg,
        metavar="DIR",
        help="state directory of --run (default $TYPEDFLOW_HOME or ./.typedflow)",
    )
    p.set_defaults(func=cmd_graph)


__all__ = [
    "Cluster",
    "GEdge",
    "GNode",
    "Graph",
    "GraphvizMissing",
    "RunStatus",
    "add_subparser",
    "apply_run",
    "build_graph",
    "read_run",
    "render_graph",
    "to_dot",
    "to_mermaid",
    "to_svg",
]
