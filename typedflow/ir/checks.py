"""Structural checks of an IR document loaded from outside: names, references, cycles.

The schema says what shape each object has; these say that the graph it describes can run: every
name is safe to print and to use in file and state names, every reference points at something that
exists and is visible from where it is used, no block's nodes wait for each other in a circle, and
no sub-workflow calls itself. All checks are iterative, so a hostile document cannot exhaust the
stack. Each raises :class:`~typedflow.errors.IRValidationError` with the JSON path of the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from typedflow import ir
from typedflow.errors import IRValidationError
from typedflow.util.boundary import BoundaryError, check_digest, check_name

IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MODULE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,255}")
QUALNAME: Final = re.compile(r"[A-Za-z_<][A-Za-z0-9_.<>]{0,255}")

# A container a node sits in: a map node's id, or a conditional's id with the branch's index.
_Container = tuple[str, int | None]


def check_document(doc: ir.WorkflowIR) -> None:
    """Every check below, on the whole document (its digest last: it is checked against the content next)."""
    _check_tasks(doc)
    subs: dict[str, ir.Workflow] = {}
    for i, w in enumerate(doc.subworkflows):
        if w.name in subs:
            raise IRValidationError(f"$.subworkflows[{i}].name", f'two sub-workflows are named "{w.name}"')
        subs[w.name] = w
    tasks = {t.name: t for t in doc.tasks}
    for path, w in [("$.workflow", doc.workflow)] + [
        (f"$.subworkflows[{i}]", s) for i, s in enumerate(doc.subworkflows)
    ]:
        _Workflow(path, w, tasks, subs).check()
    _check_no_recursion(doc, subs)
    depth = ir.nesting(doc)
    if depth > ir.MAX_NESTING:
        raise IRValidationError("$.workflow", f"blocks nest {depth} deep; at most {ir.MAX_NESTING} are accepted")
    if not doc.digest:
        raise IRValidationError(
            "$.digest", "missing: an IR document names its own digest (typedflow compile writes it)"
        )
    try:
        check_digest(doc.digest, "digest")
    except BoundaryError as exc:
        raise IRValidationError("$.digest", str(exc)) from None


def _name(value: str, path: str) -> None:
    try:
        check_name(value, path)
    except BoundaryError as exc:
        raise IRValidationError(path, str(exc)) from None


def _ident(value: str, path: str) -> None:
    if IDENT.fullmatch(value) is None:
        raise IRValidationError(path, f"{value[:80]!r} is not a Python identifier")


def _check_tasks(doc: ir.WorkflowIR) -> None:
    seen: set[str] = set()
    for i, t in enumerate(doc.tasks):
        path = f"$.tasks[{i}]"
        _name(t.name, path + ".name")
        if t.name in seen:
            raise IRValidationError(path + ".name", f'two tasks are named "{t.name}"')
        seen.add(t.name)
        if MODULE.fullmatch(t.module) is None:
            raise IRValidationError(path + ".module", f"{t.module[:80]!r} is not a module name")
        if QUALNAME.fullmatch(t.qualname) is None:
            raise IRValidationError(path + ".qualname", f"{t.qualname[:80]!r} is not a qualified name")
        try:
            check_digest(t.code_digest, path + ".code_digest")
        except BoundaryError as exc:
            raise IRValidationError(path + ".code_digest", str(exc)) from None
        _params(t.inputs, path + ".inputs")
        _params(t.outputs, path + ".outputs")


def _params(params: tuple[ir.Param, ...], path: str) -> None:
    names: set[str] = set()
    for i, p in enumerate(params):
        _ident(p.name, f"{path}[{i}].name")
        if p.name in names:
            raise IRValidationError(f"{path}[{i}].name", f'two parameters are named "{p.name}"')
        names.add(p.name)


class _Workflow:
    """The checks of one workflow (the main one or a sub-workflow): its nodes and every reference."""

    def __init__(self, path: str, w: ir.Workflow, tasks: dict[str, ir.TaskTemplate], subs: dict[str, ir.Workflow]):
        self.path = path
        self.w = w
        self.tasks = tasks
        self.subs = subs
        self.inputs = {p.name for p in w.inputs}
        # node id -> (node, the containers it sits in, outermost first)
        self.nodes: dict[str, tuple[ir.Node, tuple[_Container, ...]]] = {}

    def check(self) -> None:
        _name(self.w.name, self.path + ".name")
        _params(self.w.inputs, self.path + ".inputs")
        _params(self.w.outputs, self.path + ".outputs")
        for node, containers in _placed(self.w.nodes):
            _name(node.id, f"{self.path}.nodes ({node.id[:80]!r})")
            if node.id in self.nodes:
                raise IRValidationError(f"{self.path}.nodes", f'two nodes have the id "{node.id}"')
            self.nodes[node.id] = (node, containers)
        for node, containers in self.nodes.values():
            self._node(node, containers)
        for a in self.w.results:
            self._binding(a.value, (), None, f"{self.path}.results ({a.param})")
        if self.w.on_failure is not None:
            of = self.w.on_failure
            if of.task not in self.tasks:
                raise IRValidationError(f"{self.path}.on_failure", f'uses unknown task "{of.task}"')
            for a in of.args:
                self._binding(a.value, (), None, f"{self.path}.on_failure ({a.param})", failure=True)
        for nodes in _blocks(self.w.nodes):
            _check_acyclic(nodes, f"{self.path}.nodes")

    def _node(self, n: ir.Node, containers: tuple[_Container, ...]) -> None:
        where = f'{self.path}.nodes ("{n.id}")'
        for other in n.after:  # an ordering edge: a sibling of the same block
            found = self.nodes.get(other)
            if found is None or found[1] != containers or other == n.id:
                raise IRValidationError(where, f'waits for "{other[:80]}", which is not another node of its block')
        if isinstance(n, ir.TaskNode):
            if n.task not in self.tasks:
                raise IRValidationError(where, f'node "{n.id}" uses unknown task "{n.task}"')
            declared = {p.name for p in self.tasks[n.task].inputs}
            self._args(n.args, declared, containers, n.id, where)
        elif isinstance(n, ir.SubWorkflowNode):
            if n.workflow not in self.subs:
                raise IRValidationError(where, f'node "{n.id}" uses unknown workflow "{n.workflow}"')
            declared = {p.name for p in self.subs[n.workflow].inputs}
            self._args(n.args, declared, containers, n.id, where)
        elif isinstance(n, ir.FailNode):
            pass  # a message: nothing to refer to
        elif isinstance(n, ir.MapNode):
            self._binding(n.items.value, containers, n.id, where + ".items")
            if n.max_concurrency is not None and n.max_concurrency < 1:
                raise IRValidationError(where, "max_concurrency must be at least 1")
            if not 0.0 <= n.tolerated_failure <= 1.0:
                raise IRValidationError(where, "tolerated_failure must be between 0 and 1")
            if n.tolerated_failure and n.result_type.kind not in ("optional", "none", "any"):
                raise IRValidationError(where, "a map with tolerated_failure must have an Optional result type")
            inner = (*containers, (n.id, None))
            if isinstance(n.result, ir.RecordOf):
                self._record(n.result, n.result_type, inner, where + ".result")
            else:
                self._binding(n.result, inner, None, where + ".result")
        elif isinstance(n, ir.ExitHandlerNode):
            of = n.handler
            if of.task not in self.tasks:
                raise IRValidationError(where, f'exit handler uses unknown task "{of.task}"')
            declared = {p.name for p in self.tasks[of.task].inputs}
            given = [a.param for a in of.args]
            if len(set(given)) != len(given) or not set(given) <= declared:
                raise IRValidationError(where, f"handler arguments {sorted(given)} do not match {sorted(declared)}")
            for a in of.args:
                self._binding(a.value, containers, n.id, f"{where}.handler ({a.param})", failure=True)
        else:
            for i, br in enumerate(n.branches):
                if br.condition is None and i != len(n.branches) - 1:
                    raise IRValidationError(where, "only the last branch may be `otherwise`")
                for term in _compares(br.condition):
                    self._binding(term.left, containers, n.id, where + ".condition")
                    self._binding(term.right, containers, n.id, where + ".condition")

    def _args(
        self, args: tuple[ir.Arg, ...], declared: set[str], containers: tuple[_Container, ...], me: str, where: str
    ) -> None:
        given = [a.param for a in args]
        if len(set(given)) != len(given) or not set(given) <= declared:
            raise IRValidationError(where, f"arguments {sorted(given)} do not match the parameters {sorted(declared)}")
        for a in args:
            self._binding(a.value, containers, me, f"{where} ({a.param})")

    def _record(self, r: ir.RecordOf, t: ir.TypeRef, containers: tuple[_Container, ...], where: str) -> None:
        names = [a.param for a in r.fields]
        if t.kind != "record" or names != [f.name for f in t.fields]:
            raise IRValidationError(where, f"the record's fields {names} are not those of its type {t.name[:80]!r}")
        for a in r.fields:
            self._binding(a.value, containers, None, f"{where} ({a.param})")

    def _binding(
        self, b: ir.Binding, containers: tuple[_Container, ...], me: str | None, where: str, *, failure: bool = False
    ) -> None:
        if isinstance(b, ir.InputRef):
            if b.name not in self.inputs:
                raise IRValidationError(where, f'refers to unknown input "{b.name[:80]}"')
        elif isinstance(b, ir.FailureRef):
            if not failure:
                raise IRValidationError(where, "refers to a failure outside a failure handler's arguments")
        elif isinstance(b, ir.ItemRef):
            if (b.map, None) not in containers:
                raise IRValidationError(where, f'refers to the item of "{b.map[:80]}", which is not a map around it')
        elif isinstance(b, ir.OutputRef):
            self._output(b, containers, me, where)

    def _output(self, b: ir.OutputRef, containers: tuple[_Container, ...], me: str | None, where: str) -> None:
        found = self.nodes.get(b.node)
        if found is None:
            raise IRValidationError(where, f'refers to unknown node "{b.node[:80]}"')
        target, theirs = found
        if b.node == me or any(c[0] == b.node for c in containers):
            raise IRValidationError(where, f'refers to the output of "{b.node}", which it is part of (a cycle)')
        common = 0
        while common < min(len(theirs), len(containers)) and theirs[common] == containers[common]:
            common += 1
        if any(index is None for _, index in theirs[common:]):
            raise IRValidationError(where, f'refers to "{b.node}" inside a map body it is not part of')
        outputs = {p.name for p in _outputs(target, self.tasks, self.subs)}
        if b.output is None:
            returns = (
                self.tasks[target.task].returns
                if isinstance(target, ir.TaskNode)
                else self.subs[target.workflow].returns
                if isinstance(target, ir.SubWorkflowNode)
                else None
            )
            if returns is None or returns.flavor != "namedtuple":
                raise IRValidationError(where, f'refers to all outputs of "{b.node}", which returns no NamedTuple')
        elif b.output not in outputs:
            raise IRValidationError(where, f'refers to output "{b.output[:80]}" of "{b.node}", which has none such')


def _outputs(n: ir.Node, tasks: dict[str, ir.TaskTemplate], subs: dict[str, ir.Workflow]) -> tuple[ir.Param, ...]:
    if isinstance(n, ir.TaskNode):
        return tasks[n.task].outputs
    if isinstance(n, ir.SubWorkflowNode):
        return subs[n.workflow].outputs
    if isinstance(n, ir.MapNode):
        return (ir.Param("out", ir.TypeRef("list", (n.result_type,))),)
    return ()


def _placed(nodes: tuple[ir.Node, ...]) -> Iterator[tuple[ir.Node, tuple[_Container, ...]]]:
    """Every node with the containers around it, without recursion."""
    stack: list[tuple[ir.Node, tuple[_Container, ...]]] = [(n, ()) for n in reversed(nodes)]
    while stack:
        n, containers = stack.pop()
        yield n, containers
        if isinstance(n, ir.ConditionalNode):
            for i in reversed(range(len(n.branches))):
                stack.extend((m, (*containers, (n.id, i))) for m in reversed(n.branches[i].nodes))
        elif isinstance(n, ir.MapNode):
            stack.extend((m, (*containers, (n.id, None))) for m in reversed(n.body))
        elif isinstance(n, ir.ExitHandlerNode):  # its body's values are read after it, as a branch's are
            stack.extend((m, (*containers, (n.id, 0))) for m in reversed(n.body))


def _blocks(nodes: tuple[ir.Node, ...]) -> Iterator[tuple[ir.Node, ...]]:
    """Every block (the body, each branch, each map body), without recursion."""
    stack = [nodes]
    while stack:
        block = stack.pop()
        yield block
        for n in block:
            if isinstance(n, ir.ConditionalNode):
                stack.extend(br.nodes for br in n.branches)
            elif isinstance(n, ir.MapNode | ir.ExitHandlerNode):
                stack.append(n.body)


def _compares(c: ir.Condition | None) -> Iterator[ir.Compare]:
    stack = [c] if c is not None else []
    while stack:
        term = stack.pop()
        if isinstance(term, ir.Compare):
            yield term
        elif isinstance(term, ir.Not):
            stack.append(term.term)
        else:
            stack.extend(term.terms)


def _refs(n: ir.Node) -> Iterator[str]:
    """Ids of the nodes ``n`` (and what it contains) reads outputs of."""
    for m in ir.walk((n,)):
        yield from m.after
        bindings: list[ir.Binding] = []
        if isinstance(m, ir.TaskNode | ir.SubWorkflowNode):
            bindings = [a.value for a in m.args]
        elif isinstance(m, ir.MapNode):
            bindings = [m.items.value, *_values(m.result)]
        elif isinstance(m, ir.ExitHandlerNode):
            bindings = [a.value for a in m.handler.args]
        elif isinstance(m, ir.ConditionalNode):
            for br in m.branches:
                for term in _compares(br.condition):
                    bindings += [term.left, term.right]
        for b in bindings:
            if isinstance(b, ir.OutputRef):
                yield b.node


def _values(b: ir.MapResult) -> list[ir.Binding]:
    return [a.value for a in b.fields] if isinstance(b, ir.RecordOf) else [b]


def _check_acyclic(nodes: tuple[ir.Node, ...], path: str) -> None:
    """No node of a block waits (through what it contains) for a sibling that waits for it."""
    owner: dict[str, str] = {}
    for n in nodes:
        for inner in ir.walk((n,)):
            owner[inner.id] = n.id
    deps: dict[str, set[str]] = {}
    for n in nodes:
        inner_ids = {m.id for m in ir.walk((n,))}
        deps[n.id] = {owner[r] for r in _refs(n) if r in owner and r not in inner_ids}
    waiting = {k: len(v) for k, v in deps.items()}
    dependents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for k, v in deps.items():
        for d in v:
            dependents[d].append(k)
    ready = [k for k, c in waiting.items() if c == 0]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        for d in dependents[k]:
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    if done != len(nodes):
        stuck = sorted(k for k, c in waiting.items() if c > 0)
        raise IRValidationError(path, f"nodes wait for each other in a cycle: {', '.join(stuck[:10])}")


def _check_no_recursion(doc: ir.WorkflowIR, subs: dict[str, ir.Workflow]) -> None:
    """No workflow calls itself, directly or through others."""
    calls = {
        w.name: {n.workflow for n in ir.walk(w.nodes) if isinstance(n, ir.SubWorkflowNode)}
        for w in (doc.workflow, *doc.subworkflows)
    }
    # Kahn's algorithm on the call graph: what is left over sits on a cycle.
    waiting = {name: len(callees & calls.keys()) for name, callees in calls.items()}
    callers: dict[str, list[str]] = {name: [] for name in calls}
    for name, callees in calls.items():
        for c in callees & calls.keys():
            callers[c].append(name)
    ready = [name for name, c in waiting.items() if c == 0]
    while ready:
        name = ready.pop()
        for caller in callers[name]:
            waiting[caller] -= 1
            if waiting[caller] == 0:
                ready.append(caller)
    cyclic = sorted(name for name, c in waiting.items() if c > 0)
    if cyclic:
        raise IRValidationError("$.subworkflows", f"workflows call themselves: {', '.join(cyclic[:10])}")
