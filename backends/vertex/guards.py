"""Failure flags inside the items of a ``map_over(..., tolerated_failure=x)``.

A ``ParallelFor`` fails with any failed iteration, so inside a tolerant map's item every executor (a task, a
``fail``, a value task, a nested map's tolerance step) at any depth reports its failure as a STRING output
instead (:data:`~.components.FAILED`, empty when it succeeded) and takes the flags of the item's executors it
depends on: when one is set it stands down (passes that failure on, writes stand-ins for its values, runs
nothing). A flag is a source ``("output", node, "!...")``: a task has one (``"!"``); a sub-workflow call, a
`when` group or a nested map surfaces the flags of what it holds as outputs of its DAG (``"!0"``, ``"!1"``, ...),
so readers resolve them through :meth:`Dag.resolve` like any value, across DAG boundaries. A block node (a `when`
group, a nested map, an ``exit_handler`` block) never starts when anything it reads from outside failed
(:func:`outside_reads`); failure handlers there read the flags of what they handle (``item_handlers``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from typedflow import ir

if TYPE_CHECKING:
    from .dag import Dag, Source

FLAG = "!"
"""The output key (in ``Local.outputs``) of a failure flag starts with this; a task's own is exactly it."""


@attrs.frozen
class Scope:
    """Compiling inside a tolerant map's item. ``ambient``: flags every executor of the DAG being built checks
    besides its producers' (a sub-workflow's: its call's, passed in as inputs; a nested map's body: the map's)."""

    ambient: tuple[Source, ...] = ()


def flags_of(dag: Dag, node: str) -> list[Source]:
    """The failure flags of ``node`` as ``dag`` (or a DAG it is nested in) sees it; none outside the item."""
    d: Dag | None = dag
    while d is not None:
        lo = d.local.get(node)
        if lo is not None:
            return [("output", node, k) for k in sorted(lo.outputs) if k.startswith(FLAG)]
        d = d.parent
    return []


def guard(dag: Dag, nodes: Iterable[str], scope: Scope) -> list[Source]:
    """The flags an executor reading (or ordered after) ``nodes`` checks before it runs."""
    out: list[Source] = list(scope.ambient)
    for node in sorted(set(nodes)):
        out.extend(s for s in flags_of(dag, node) if s not in out)
    return out


def flag_outputs(dag: Dag) -> list[tuple[str, str]]:
    """(task, output key) of every failure flag the tasks of ``dag`` report, in the order they were added."""
    seen: dict[tuple[str, str], None] = {}
    for lo in dag.local.values():
        for k, (key, _) in lo.outputs.items():
            if k.startswith(FLAG):
                seen[(lo.task, key)] = None
    index = {t: i for i, t in enumerate(dag.order)}
    return sorted(seen, key=lambda p: (index[p[0]], p[1]))


def reads(n: ir.Node) -> set[str]:
    """The nodes whose values ``n`` reads directly, and those it is ordered after."""
    bindings: list[ir.Binding] = []
    if isinstance(n, ir.TaskNode | ir.SubWorkflowNode):
        bindings = [a.value for a in n.args]
    elif isinstance(n, ir.MapNode):
        bindings = [n.items.value]
    elif isinstance(n, ir.ConditionalNode):
        bindings = [b for br in n.branches if br.condition is not None for b in condition_bindings(br.condition)]
    return {*binding_nodes(bindings), *n.after}


def outside_reads(n: ir.Node) -> set[str]:
    """The nodes outside a block node ``n`` (a ``when`` group, a map, an ``exit_handler`` block) that it, at any
    depth, reads or is ordered after. Locally the block starts only once all of them succeeded, so a failed one
    means none of it runs: its executors' guard, not just what each of them reads."""
    nested: list[ir.Node] = []
    if isinstance(n, ir.ConditionalNode):
        nested = [m for br in n.branches for m in br.nodes]
    elif isinstance(n, ir.MapNode | ir.ExitHandlerNode):
        nested = list(n.body)
    inside: set[str] = set()
    out = reads(n)
    for m in [n, *ir.walk(tuple(nested))]:
        inside.add(m.id)
        out |= reads(m)
        if isinstance(m, ir.ExitHandlerNode):
            out |= binding_nodes(a.value for a in m.handler.args)
        elif isinstance(m, ir.MapNode):
            out |= binding_nodes([m.result])
    return out - inside


def binding_nodes(bindings: Iterable[ir.Binding | ir.MapResult]) -> set[str]:
    out: set[str] = set()
    for b in bindings:
        if isinstance(b, ir.RecordOf):
            out |= binding_nodes(a.value for a in b.fields)
        elif isinstance(b, ir.OneOf):
            out |= binding_nodes(b.options)
        elif isinstance(b, ir.OutputRef):
            out.add(b.node)
    return out


def condition_bindings(c: ir.Condition) -> list[ir.Binding]:
    if isinstance(c, ir.Compare):
        return [c.left, c.right]
    if isinstance(c, ir.Not):
        return condition_bindings(c.term)
    return [b for t in c.terms for b in condition_bindings(t)]
