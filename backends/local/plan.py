"""Static scheduling facts of a block: which siblings each node waits for."""

from __future__ import annotations

import attrs

from typedflow import ir

from .bindings import referenced_nodes


@attrs.frozen
class BlockPlan:
    nodes: tuple[ir.Node, ...]
    deps: dict[str, frozenset[str]]  # node id -> sibling ids it waits for
    dependents: dict[str, tuple[str, ...]]
    by_id: dict[str, ir.Node]


def plan(nodes: tuple[ir.Node, ...]) -> BlockPlan:
    """The dependency plan of a block."""
    owner: dict[str, str] = {}
    for n in nodes:
        for inner in ir.walk((n,)):
            owner[inner.id] = n.id
    deps: dict[str, frozenset[str]] = {}
    dependents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for n in nodes:
        inner_ids = {m.id for m in ir.walk((n,))}
        ds = frozenset(owner[r] for r in referenced_nodes(n) if r in owner and r not in inner_ids)
        deps[n.id] = ds
        for d in ds:
            dependents[d].append(n.id)
    return BlockPlan(nodes, deps, {k: tuple(v) for k, v in dependents.items()}, {n.id: n for n in nodes})
