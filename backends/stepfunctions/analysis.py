"""What the compiler needs to know about the IR before emitting states.

- :class:`Ctx` resolves an IR binding to a canonical reference: sub-workflows are inlined, so a
  reference to a sub-workflow's input or output becomes the reference it stands for.
- :func:`requirements` finds the outputs that Choice and Map states read, which must stay inline.
- :func:`decompose` turns a block's dependency graph into nested sequences and parallel groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import attrs

from typedflow import ir

WHOLE, ELEMENTWISE = "whole", "elementwise"


@attrs.frozen
class Ref:
    """A value in the state data: a workflow input, a node's output, a map item or the failure."""

    kind: Literal["input", "node", "item", "failure"]
    key: str  # input name, node key, map key; "" for the failure
    output: str | None
    path: tuple[str, ...]
    optional: bool
    type: ir.TypeRef


@attrs.frozen
class ConstRef:
    value: Any
    type: ir.TypeRef


@attrs.frozen
class RecordRef:
    """The whole NamedTuple of a sub-workflow, or a record a map body built: each field resolved separately."""

    fields: tuple[tuple[str, Resolved], ...]


@attrs.frozen
class ChoiceRef:
    """``one_of(...)``: the option of the branch of its chain that ran. ``chain`` holds the index of that
    branch (null when the chain did not run), which the chain's branches record; ``branches[i]`` is the
    index of the branch that computes ``options[i]``. The branch decides, not whether an option is null:
    an option may be there though its branch did not run (a sub-workflow that returns its input) or null
    though it did (a task that returned None)."""

    options: tuple[Resolved, ...]
    chain: Ref
    branches: tuple[int, ...]


Resolved = Ref | ConstRef | RecordRef | ChoiceRef
ANY = ir.TypeRef("any")


def follow_type(t: ir.TypeRef, path: tuple[str, ...]) -> tuple[ir.TypeRef, bool]:
    """The type at ``path`` inside ``t`` and whether a null may appear on the way."""
    nullable = False
    for key in path:
        if t.kind == "optional":
            nullable, t = True, t.args[0]
        if t.kind == "record":
            t = next((f.type for f in t.fields if f.name == key), ANY)
        elif t.kind == "dict":
            nullable, t = True, t.args[0]
        else:
            return ANY, True
    if t.kind == "optional":
        nullable, t = True, t.args[0]
    return t, nullable


def _follow_value(v: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(v, dict):
            return None
        v = v.get(key)
    return v


def _literal_type(v: Any) -> ir.TypeRef:
    if v is None:
        return ir.TypeRef("none")
    kinds: tuple[tuple[type, ir.TypeKind], ...] = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"))
    for py, kind in kinds:
        if isinstance(v, py):
            return ir.TypeRef(kind)
    return ANY


@attrs.frozen
class Ctx:
    """Resolution context of one (possibly inlined) workflow body."""

    doc: ir.WorkflowIR
    wf: ir.Workflow
    prefix: str = ""  # static node-key prefix ("sub/")
    template: str = ""  # runtime node-key prefix with one {} per enclosing map index ("map[{}]/")
    maps: tuple[str, ...] = ()  # enclosing map keys, outermost first
    inputs: dict[str, ir.Arg] | None = None  # bound arguments of an inlined sub-workflow
    parent: Ctx | None = None
    index: dict[str, ir.Node] = attrs.field(factory=dict, eq=False)
    branch_of: dict[str, tuple[str, int]] = attrs.field(factory=dict, eq=False)  # node id -> (when chain, branch)
    # references already resolved here: the compiler asks for each several times (reads, outlines, states)
    _known: dict[tuple[ir.OutputRef | ir.InputRef, bool], Resolved] = attrs.field(
        factory=dict, eq=False, init=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        for n in ir.walk(self.wf.nodes):
            self.index[n.id] = n
            if isinstance(n, ir.ConditionalNode):
                for i, br in enumerate(n.branches):
                    for inner in br.nodes:
                        self.branch_of[inner.id] = (n.id, i)

    def key(self, node_id: str) -> str:
        return self.prefix + node_id

    def sub(self, node: ir.SubWorkflowNode) -> Ctx:
        return Ctx(
            self.doc,
            self.doc.subworkflow(node.workflow),
            f"{self.prefix}{node.id}/",
            f"{self.template}{node.id}/",
            self.maps,
            {a.param: a for a in node.args},
            self,
        )

    def map_body(self, node: ir.MapNode) -> Ctx:
        return attrs.evolve(
            self,
            template=f"{self.template}{node.id}[{{}}]/",
            maps=(*self.maps, self.key(node.id)),
            index=self.index,
            branch_of=self.branch_of,
        )

    # ------------------------------------------------------------------ resolution
    def resolve(self, b: ir.MapResult, optional: bool = False) -> Resolved:
        if isinstance(b, ir.RecordOf):
            return RecordRef(tuple((a.param, self.resolve(a.value, optional or a.optional)) for a in b.fields))
        if isinstance(b, ir.Const):
            return ConstRef(b.value, _literal_type(b.value))
        if isinstance(b, ir.OutputRef | ir.InputRef):
            known = self._known.get((b, optional))
            if known is None:
                known = self._known[(b, optional)] = (
                    self._input(b, optional) if isinstance(b, ir.InputRef) else self._output(b, optional)
                )
            return known
        if isinstance(b, ir.FailureRef):
            return Ref("failure", "", None, b.path, optional, ANY)
        if isinstance(b, ir.OneOf):
            return self._one_of(b)
        if isinstance(b, ir.ItemRef):
            node = self.index[b.map]
            assert isinstance(node, ir.MapNode)
            t, nullable = follow_type(node.item_type, b.path)
            return Ref("item", self.key(b.map), None, b.path, optional or nullable, t)
        raise TypeError(f"not a binding: {b!r}")

    def _one_of(self, b: ir.OneOf) -> ChoiceRef:
        where = {self.branch_of[o.node] for o in b.options}
        assert len({chain for chain, _ in where}) == 1, "the options of a one_of() come from one when chain"
        chain = next(iter(where))[0]
        flag = Ref("node", self.key(chain), None, (), True, ir.TypeRef("int"))
        branches = tuple(self.branch_of[o.node][1] for o in b.options)
        return ChoiceRef(tuple(self._output(o, True) for o in b.options), flag, branches)

    def _input(self, b: ir.InputRef, optional: bool) -> Resolved:
        if self.inputs is None or self.parent is None:
            param = next((p for p in self.wf.inputs if p.name == b.name), None)
            t, nullable = follow_type(param.type, b.path) if param else (ANY, True)
            return Ref("input", b.name, None, b.path, optional or nullable, t)
        arg = self.inputs.get(b.name)
        if arg is None:  # an unbound parameter of a sub-workflow takes its default
            param = next(p for p in self.wf.inputs if p.name == b.name)
            return ConstRef(_follow_value(param.default, b.path), follow_type(param.type, b.path)[0])
        return self.parent.resolve(_extend(arg.value, b.path), optional or arg.optional)

    def _output(self, b: ir.OutputRef, optional: bool) -> Resolved:
        node = self.index[b.node]
        if isinstance(node, ir.SubWorkflowNode):
            inner = self.sub(node)
            results = {a.param: a for a in inner.wf.results}
            output, path = b.output, b.path
            if output is None and path:
                output, path = path[0], path[1:]
            if output is None:
                return RecordRef(
                    tuple((name, inner.resolve(a.value, optional or a.optional)) for name, a in sorted(results.items()))
                )
            arg = results[output]
            return inner.resolve(_extend(arg.value, path), optional or arg.optional)
        outs = ir.node_outputs(node, self.doc)
        if b.output is None:
            whole = ir.TypeRef("record", fields=tuple(ir.Field(p.name, p.type) for p in outs))
            t, nullable = follow_type(whole, b.path)
        else:
            param = next((p for p in outs if p.name == b.output), None)
            t, nullable = follow_type(param.type, b.path) if param else (ANY, True)
        return Ref("node", self.key(b.node), b.output, b.path, optional or nullable, t)


def _extend(b: ir.Binding, path: tuple[str, ...]) -> ir.Binding:
    if not path:
        return b
    if isinstance(b, ir.Const):
        return ir.Const(_follow_value(b.value, path))
    if isinstance(b, ir.OneOf):
        return ir.OneOf(tuple(attrs.evolve(o, path=(*o.path, *path)) for o in b.options))
    return attrs.evolve(b, path=(*b.path, *path))


# ----------------------------------------------------------------------------- traversal


def condition_refs(c: ir.Condition, ctx: Ctx) -> Iterator[Resolved]:
    if isinstance(c, ir.Compare):
        yield ctx.resolve(c.left)
        yield ctx.resolve(c.right)
    elif isinstance(c, ir.And | ir.Or):
        for t in c.terms:
            yield from condition_refs(t, ctx)
    else:
        yield from condition_refs(c.term, ctx)


def block_refs(nodes: tuple[ir.Node, ...], ctx: Ctx) -> Iterator[tuple[str, Resolved, Ctx]]:
    """Every (use, reference, context) in a block, nested blocks and inlined sub-workflows included.
    ``use`` is "arg", "cond", "items" (or "s3items", read by a worker step) or "result"."""
    for n in nodes:
        if isinstance(n, ir.TaskNode):
            for a in n.args:
                yield "arg", ctx.resolve(a.value, a.optional), ctx
        elif isinstance(n, ir.ConditionalNode):
            for br in n.branches:
                if br.condition is not None:
                    for r in condition_refs(br.condition, ctx):
                        yield "cond", r, ctx
                yield from block_refs(br.nodes, ctx)
        elif isinstance(n, ir.MapNode):
            # a Distributed Map's items go through S3 (a worker step resolves them), never through Map states
            use = "s3items" if n.distributed is True or n.tolerated_failure else "items"
            yield f"{use}:{ctx.key(n.id)}", ctx.resolve(n.items.value, n.items.optional), ctx
            body = ctx.map_body(n)
            yield from block_refs(n.body, body)
            yield "result", body.resolve(n.result), body
        elif isinstance(n, ir.ExitHandlerNode):
            yield from block_refs(n.body, ctx)
            for a in n.handler.args:
                yield "arg", ctx.resolve(a.value, a.optional), ctx
        elif isinstance(n, ir.SubWorkflowNode):
            sub = ctx.sub(n)
            yield from block_refs(sub.wf.nodes, sub)
            if sub.wf.on_failure is not None:  # its handler reads the sub-workflow's inputs where it runs
                for a in sub.wf.on_failure.args:
                    yield "arg", sub.resolve(a.value, a.optional), sub


def leaves(r: Resolved) -> Iterator[Ref]:
    if isinstance(r, Ref):
        yield r
    elif isinstance(r, RecordRef):
        for _, f in r.fields:
            yield from leaves(f)
    elif isinstance(r, ChoiceRef):  # the chain's record of its branch too: it travels like a node's outputs
        yield r.chain
        for o in r.options:
            yield from leaves(o)


@attrs.frozen
class WorkflowRefs:
    """Every reference of a workflow, resolved once for the analyses that read them all: (use, reference) of
    its blocks (see :func:`block_refs`) and its results."""

    uses: tuple[tuple[str, Resolved], ...]
    results: tuple[Resolved, ...]

    def all(self) -> Iterator[Resolved]:
        for _, r in self.uses:
            yield r
        yield from self.results


def workflow_refs(doc: ir.WorkflowIR) -> WorkflowRefs:
    ctx = Ctx(doc, doc.workflow)
    return WorkflowRefs(
        tuple((use, r) for use, r, _ in block_refs(doc.workflow.nodes, ctx)),
        tuple(ctx.resolve(a.value, a.optional) for a in doc.workflow.results),
    )


def chains_read(refs: WorkflowRefs) -> set[str]:
    """The keys of the when chains whose branch some ``one_of()`` reads: they record which branch ran."""
    out: set[str] = set()
    stack = list(refs.all())
    while stack:
        r = stack.pop()
        if isinstance(r, ChoiceRef):
            out.add(r.chain.key)
            stack.extend(r.options)
        elif isinstance(r, RecordRef):
            stack.extend(f for _, f in r.fields)
    return out


Requirement = dict[tuple[str, str, str], str]  # (kind, key, output) -> WHOLE | ELEMENTWISE


def requirements(refs: WorkflowRefs) -> Requirement:
    """Values that Choice rules compare and Map states iterate: their producers keep them inline
    (whole, or as a list whose elements may be offloaded one by one)."""
    req: Requirement = {}
    compared_items: set[str] = set()  # maps whose elements are read by a Choice or a nested Map
    items_of: dict[str, list[Ref]] = {}
    for use, r in refs.uses:
        if use == "cond":
            for leaf in leaves(r):
                if leaf.kind == "item":
                    compared_items.add(leaf.key)
                if leaf.kind in ("node", "input"):
                    req[(leaf.kind, leaf.key, leaf.output or "")] = WHOLE
        elif use.startswith("items:") and isinstance(r, Ref | ChoiceRef):  # (one_of(): each option's list)
            found = list(leaves(r))
            items_of[use.removeprefix("items:")] = found
            compared_items.update(x.key for x in found if x.kind == "item")
    for map_key, lists in items_of.items():
        for x in lists:
            if x.kind in ("node", "input"):
                k = (x.kind, x.key, x.output or "")
                if x.path or map_key in compared_items:
                    req[k] = WHOLE
                else:
                    req.setdefault(k, ELEMENTWISE)
    return req


# ----------------------------------------------------------------------------- scheduling


@attrs.frozen
class Seq:
    parts: tuple[Plan, ...]


@attrs.frozen
class Par:
    parts: tuple[Plan, ...]


@attrs.frozen
class Outlined:
    """A part of a plan that runs as a child state machine of its own."""

    plan: Plan


Plan = ir.Node | Seq | Par | Outlined


def _binding_nodes(b: ir.MapResult) -> list[str]:
    if isinstance(b, ir.RecordOf):
        return [n for a in b.fields for n in _binding_nodes(a.value)]
    if isinstance(b, ir.OneOf):
        return [o.node for o in b.options]
    return [b.node] if isinstance(b, ir.OutputRef) else []


def _cond_nodes(c: ir.Condition) -> Iterator[str]:
    if isinstance(c, ir.Compare):
        for b in (c.left, c.right):
            yield from _binding_nodes(b)
    elif isinstance(c, ir.And | ir.Or):
        for t in c.terms:
            yield from _cond_nodes(t)
    else:
        yield from _cond_nodes(c.term)


def reads(node: ir.Node) -> set[str]:
    """Node ids that ``node`` (or anything nested in it) reads."""
    out: set[str] = set()
    for n in (node,) if isinstance(node, ir.TaskNode) else ir.walk((node,)):  # (a task has nothing inside)
        out.update(n.after)  # ordering edges (`with after(...)`) as well as data
        bindings: list[ir.MapResult] = []
        if isinstance(n, ir.TaskNode | ir.SubWorkflowNode):
            bindings = [a.value for a in n.args]
        elif isinstance(n, ir.MapNode):
            bindings = [n.items.value, n.result]
        elif isinstance(n, ir.ExitHandlerNode):
            bindings = [a.value for a in n.handler.args]
        elif isinstance(n, ir.ConditionalNode):
            for br in n.branches:
                if br.condition is not None:
                    out.update(_cond_nodes(br.condition))
        out.update(x for b in bindings for x in _binding_nodes(b))
    return out


MAX_PLAN_DEPTH = 16  # Parallel states nested at most this deep by the series-parallel plan


def decompose(nodes: tuple[ir.Node, ...]) -> Plan | None:
    """Series-parallel plan of a block: independent groups run in parallel; within a connected
    group, the nodes that wait for nothing run first, then the rest (and so on). Built without
    recursion, in time about linear in the block; where groups would nest Parallel states deeper
    than ``MAX_PLAN_DEPTH`` (a ladder of side branches), a group runs level by level instead (each
    level a Parallel of nodes that wait for nothing in it), so the definition's nesting stays bounded
    whatever the workflow's size."""
    if not nodes:
        return None
    owner: dict[str, str] = {}
    for n in nodes:
        for inner in (n,) if isinstance(n, ir.TaskNode) else ir.walk((n,)):  # (a task has nothing inside)
            owner[inner.id] = n.id
    deps = {n.id: {owner[r] for r in reads(n) if r in owner and owner[r] != n.id} for n in nodes}
    return _plan(list(nodes), deps)


def _plan(nodes: list[ir.Node], deps: dict[str, set[str]]) -> Plan:
    level = _levels_of(nodes, deps)
    dependents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for n in nodes:
        for d in deps[n.id]:
            dependents[d].append(n.id)
    done: dict[int, Plan] = {}  # id(slot) -> its plan
    top: list[Any] = []
    # (nodes of a group in block order, its slot, Parallel nesting depth); a group's nodes that wait for
    # nothing in it are exactly those of its lowest level (levels are longest paths from the block's sources)
    work: list[tuple[list[ir.Node], list[Any], int]] = [(nodes, top, 0)]
    order: list[tuple[list[Any], str, list[list[Any]]]] = []  # (slot, kind, part slots), parents first
    while work:
        group, slot, depth = work.pop()
        if len(group) == 1:
            done[id(slot)] = group[0]
            continue
        ids = {n.id for n in group}
        comps = _components(group, {n.id: deps[n.id] & ids for n in group})
        if len(comps) > 1 and depth >= MAX_PLAN_DEPTH:
            done[id(slot)] = _by_level(group, level)
            continue
        if len(comps) > 1:
            parts: list[list[Any]] = [[] for _ in comps]
            order.append((slot, "par", parts))
            work.extend((c, s, depth + 1) for c, s in zip(comps, parts, strict=True))
            continue
        rows: dict[int, list[ir.Node]] = {}
        for n in group:
            rows.setdefault(level[n.id], []).append(n)
        cut = _first_split(rows, ids, dependents)
        parts = []
        for k in sorted(rows):
            if cut is not None and k >= cut:
                break
            part: list[Any] = []
            parts.append(part)
            work.append((rows[k], part, depth))
        if cut is not None:
            part = []
            parts.append(part)
            work.append(([n for n in group if level[n.id] >= cut], part, depth))
        order.append((slot, "seq", parts))
    for slot, kind, parts in reversed(order):  # children before their parents
        plans = [done[id(p)] for p in parts]
        if kind == "par":
            done[id(slot)] = Par(tuple(plans))
            continue
        flat: list[Plan] = []
        for p in plans:
            flat.extend(p.parts if isinstance(p, Seq) else (p,))
        done[id(slot)] = Seq(tuple(flat))
    return done[id(top)]


def _levels_of(nodes: list[ir.Node], deps: dict[str, set[str]]) -> dict[str, int]:
    """Each node's longest path from a node that waits for nothing (nodes of a block never wait in a
    circle: the IR is checked for that)."""
    waiting = {n.id: len(deps[n.id]) for n in nodes}
    dependents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for n in nodes:
        for d in deps[n.id]:
            dependents[d].append(n.id)
    level = {k: 0 for k, c in waiting.items() if c == 0}
    ready = list(level)
    while ready:
        k = ready.pop()
        for d in dependents[k]:
            level[d] = max(level.get(d, 0), level[k] + 1)
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    return level


def _first_split(rows: dict[int, list[ir.Node]], ids: set[str], dependents: dict[str, list[str]]) -> int | None:
    """The lowest level k above the group's first at which the group's nodes of level k and higher
    fall apart into several independent groups (None: they never do), found by adding the levels
    back from the top with a union-find."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups = 0
    split: int | None = None
    levels = sorted(rows)
    for k in reversed(levels[1:]):
        for n in rows[k]:
            parent[n.id] = n.id
            groups += 1
            for d in dependents[n.id]:  # those above it are in already
                if d in ids and d in parent:
                    a, b = find(n.id), find(d)
                    if a != b:
                        parent[a] = b
                        groups -= 1
        if groups > 1:
            split = k
    return split


def _by_level(group: list[ir.Node], level: dict[str, int]) -> Plan:
    """``group`` level by level: a flat Seq of Pars, each node after every node it waits for."""
    rows: dict[int, list[ir.Node]] = {}
    for n in group:  # in block order within a level
        rows.setdefault(level[n.id], []).append(n)
    parts: list[Plan] = [row[0] if len(row) == 1 else Par(tuple(row)) for _, row in sorted(rows.items())]
    return parts[0] if len(parts) == 1 else Seq(tuple(parts))


def _components(nodes: list[ir.Node], deps: dict[str, set[str]]) -> list[list[ir.Node]]:
    parent = {n.id: n.id for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k, vs in deps.items():
        for v in vs:
            parent[find(k)] = find(v)
    groups: dict[str, list[ir.Node]] = {}
    for n in nodes:  # in block order, so the plan is deterministic
        groups.setdefault(find(n.id), []).append(n)
    return list(groups.values())
