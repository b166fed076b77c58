"""Where each input of a task execution came from, read from the workflow's IR.

A record names its node by key (``train``, ``sub/train``, ``sweep[3]/train``, as every target keys
nodes) and its inputs by parameter. The IR binds each parameter to a workflow input, a literal, an
item of a map, or an output of another node: following those bindings through map items, the lists
a map collects, sub-workflow inputs and results, and fields of NamedTuples and records gives the
producing node's key, which output, and which part of it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

import attrs

from typedflow import ir

__all__ = ["IRLoader", "Resolver", "Source", "key_pattern", "run_ir_loader"]

_ITEM: Final = re.compile(r"^(.+)\[(\d+)\]$")
ANY: Final = "*"  # the index of every item of a map


@attrs.frozen
class Source:
    """One origin of (part of) a task's input.

    ``task``: the output ``output`` (None: every output of a NamedTuple) of the node keyed ``key``,
    where ``[*]`` in the key stands for every item of a map (their results were collected into a
    list); ``part`` is what the consumer took of it (``[2]``: an item, ``.lr``: a field).
    ``input``: the run's input ``output``. ``literal``: a constant (or a default) in the workflow.
    ``failure``: the failure a handler was given.
    """

    kind: Literal["task", "input", "literal", "failure"]
    key: str = ""
    output: str | None = None
    part: str = ""


@attrs.frozen(eq=False)
class _Frame:
    nodes: dict[str, ir.Node]  # this scope's nodes, through conditional branches
    prefix: str  # node-key prefix of this scope
    kind: Literal["root", "sub", "map"]
    parent: _Frame | None = None
    node: ir.MapNode | ir.SubWorkflowNode | None = None
    index: str = ""  # a map item's index ("*": every item)


def _local(nodes: tuple[ir.Node, ...]) -> dict[str, ir.Node]:
    out: dict[str, ir.Node] = {}
    stack = list(nodes)
    while stack:
        n = stack.pop()
        out[n.id] = n
        if isinstance(n, ir.ConditionalNode):
            for b in n.branches:
                stack.extend(b.nodes)
    return out


def _path(path: tuple[str, ...]) -> str:
    return "".join(f".{p}" for p in path)


class Resolver:
    """Sources of the inputs of any node of one workflow document."""

    def __init__(self, doc: ir.WorkflowIR) -> None:
        self.doc = doc
        self.root = _Frame(_local(doc.workflow.nodes), "", "root")

    def sources(self, key: str) -> dict[str, list[Source]] | None:
        """Each parameter bound by the task node keyed ``key`` and its sources; None if the key does
        not name a task node of this workflow."""
        try:
            return self._sources(key)
        except (KeyError, ValueError):
            return None

    def _sources(self, key: str) -> dict[str, list[Source]] | None:
        frame = self.root
        *scopes, last = key.split("/")
        for seg in scopes:
            m = _ITEM.match(seg)
            if m:
                node = frame.nodes[m.group(1)]
                if not isinstance(node, ir.MapNode):
                    return None
                frame = self._item(frame, node, m.group(2))
            else:
                node = frame.nodes[seg]
                if not isinstance(node, ir.SubWorkflowNode):
                    return None
                frame = self._sub(frame, node)
        target = frame.nodes.get(last)
        if not isinstance(target, ir.TaskNode):
            return None
        return {a.param: self._resolve(a.value, frame, "") for a in target.args}

    def _item(self, frame: _Frame, node: ir.MapNode, index: str) -> _Frame:
        return _Frame(_local(node.body), f"{frame.prefix}{node.id}[{index}]/", "map", frame, node, index)

    def _sub(self, frame: _Frame, node: ir.SubWorkflowNode) -> _Frame:
        wf = self.doc.subworkflow(node.workflow)
        return _Frame(_local(wf.nodes), f"{frame.prefix}{node.id}/", "sub", frame, node)

    def _resolve(self, b: ir.MapResult, frame: _Frame, part: str) -> list[Source]:
        if isinstance(b, ir.RecordOf):  # a record a map body built: the field the part starts with, else every field
            for a in b.fields:
                head = "." + a.param
                if part == head or part.startswith((head + ".", head + "[")):
                    return self._resolve(a.value, frame, part[len(head) :])
            return [s for a in b.fields for s in self._resolve(a.value, frame, part)]
        if isinstance(b, ir.Const):
            return [Source("literal", part=part)]
        if isinstance(b, ir.InputRef):
            f = frame
            while f.kind == "map" and f.parent is not None:
                f = f.parent
            part = _path(b.path) + part
            if f.kind == "root":
                return [Source("input", output=b.name, part=part)]
            assert isinstance(f.node, ir.SubWorkflowNode) and f.parent is not None
            args = {a.param: a for a in f.node.args}
            if b.name not in args:
                return [Source("literal", part=part)]  # the sub-workflow's default
            return self._resolve(args[b.name].value, f.parent, part)
        if isinstance(b, ir.ItemRef):
            f = frame
            while not (isinstance(f.node, ir.MapNode) and f.node.id == b.map):
                if f.kind != "map" or f.parent is None:
                    return []
                f = f.parent
            assert isinstance(f.node, ir.MapNode) and f.parent is not None
            return self._resolve(f.node.items.value, f.parent, f"[{f.index}]{_path(b.path)}{part}")
        if isinstance(b, ir.OneOf):  # the branch that ran produced it: whichever option did
            return [s for o in b.options for s in self._output(o, frame, part)]
        if isinstance(b, ir.FailureRef):
            return [Source("failure", part=_path(b.path) + part)]
        return self._output(b, frame, part)

    def _output(self, b: ir.OutputRef, frame: _Frame, part: str) -> list[Source]:
        f: _Frame | None = frame
        while f is not None and b.node not in f.nodes:
            f = f.parent if f.kind == "map" else None
        if f is None:
            return []
        node = f.nodes[b.node]
        part = _path(b.path) + part
        if isinstance(node, ir.TaskNode):
            return [Source("task", f.prefix + node.id, b.output, part)]
        if isinstance(node, ir.MapNode):
            return self._resolve(node.result, self._item(f, node, ANY), part)
        if isinstance(node, ir.SubWorkflowNode):
            sub = self._sub(f, node)
            results = self.doc.subworkflow(node.workflow).results
            out: list[Source] = []
            for r in results:
                if b.output is None or r.param == b.output:
                    out += self._resolve(r.value, sub, part)
            return out
        return []


def key_pattern(key: str) -> re.Pattern[str]:
    """A node key with ``[*]`` items as a pattern matching every item's key (each index a group)."""
    return re.compile("^" + re.escape(key).replace(re.escape(f"[{ANY}]"), r"\[(\d+)\]") + "$")


IRLoader = Callable[[str, str], "ir.WorkflowIR | None"]  # (run_id, ir_digest) -> the run's IR, if known


def run_ir_loader(home: Path) -> IRLoader:
    """Loads the IR of a local run from ``<home>/runs/<run_id>/ir.json`` when its digest matches."""

    @functools.lru_cache(maxsize=64)
    def load(run_id: str, digest: str) -> ir.WorkflowIR | None:
        from typedflow.errors import IRValidationError
        from typedflow.ir.codec import IR_MAX_BYTES, loads
        from typedflow.util.boundary import read_regular

        if "/" in run_id or run_id in ("", ".", ".."):
            return None
        try:  # never a FIFO (it would wait for a writer), a link or an oversized file: matched by digest then
            doc = loads(read_regular(home / "runs" / run_id / "ir.json", "the run's ir.json", IR_MAX_BYTES))
        except (OSError, IRValidationError, ValueError):
            return None
        return doc if doc.digest == digest else None

    return load
