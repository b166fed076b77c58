"""Resolving IR bindings and conditions against the values of a running workflow."""

from __future__ import annotations

from typing import Any

from typedflow import ir


class Env:
    """The values visible to a block: workflow inputs, map items and finished nodes' outputs."""

    __slots__ = ("failure", "inputs", "items", "parent", "values")

    def __init__(
        self,
        inputs: dict[str, Any],
        parent: Env | None = None,
        items: dict[str, Any] | None = None,
        failure: dict[str, Any] | None = None,
    ):
        self.inputs = inputs
        self.parent = parent
        self.failure = failure  # a handler's: the failure it runs for (typed JSON of a Failure)
        self.items: dict[str, Any] = items if items is not None else (parent.items if parent else {})
        self.values: dict[str, dict[str, Any] | None] = {}

    def outputs_of(self, node: str) -> dict[str, Any] | None:
        env: Env | None = self
        while env is not None:
            if node in env.values:
                return env.values[node]
            env = env.parent
        return None


def follow(v: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if v is None:
            return None
        v = v[key]
    return v


def resolve(b: ir.MapResult, env: Env) -> Any:
    if isinstance(b, ir.Const):
        return b.value
    if isinstance(b, ir.OutputRef):
        outs = env.outputs_of(b.node)
        if outs is None:
            return None
        return follow(outs if b.output is None else outs.get(b.output), b.path)
    if isinstance(b, ir.InputRef):
        return follow(env.inputs.get(b.name), b.path)
    if isinstance(b, ir.OneOf):  # the branch that ran: the option whose node has outputs
        for o in b.options:
            if env.outputs_of(o.node) is not None:
                return resolve(o, env)
        return None
    if isinstance(b, ir.RecordOf):  # a record a map body built of its values: typed JSON, field by field
        return {a.param: resolve(a.value, env) for a in b.fields}
    if isinstance(b, ir.FailureRef):
        return follow(env.failure, b.path)
    return follow(env.items.get(b.map), b.path)


_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def holds(c: ir.Condition, env: Env) -> bool:
    """Evaluate a condition on actual values; an ordering comparison with a missing value is False."""
    if isinstance(c, ir.Compare):
        a, b = resolve(c.left, env), resolve(c.right, env)
        if (a is None or b is None) and c.op not in ("==", "!="):
            return False
        return bool(_OPS[c.op](a, b))
    if isinstance(c, ir.And):
        return all(holds(t, env) for t in c.terms)
    if isinstance(c, ir.Or):
        return any(holds(t, env) for t in c.terms)
    return not holds(c.term, env)


def binding_nodes(b: ir.MapResult) -> tuple[str, ...]:
    if isinstance(b, ir.OneOf):
        return tuple(o.node for o in b.options)
    if isinstance(b, ir.RecordOf):
        return tuple(n for a in b.fields for n in binding_nodes(a.value))
    return (b.node,) if isinstance(b, ir.OutputRef) else ()


def condition_nodes(c: ir.Condition) -> list[str]:
    if isinstance(c, ir.Compare):
        return [*binding_nodes(c.left), *binding_nodes(c.right)]
    if isinstance(c, ir.And | ir.Or):
        return [n for t in c.terms for n in condition_nodes(t)]
    return condition_nodes(c.term)


def referenced_nodes(node: ir.Node) -> set[str]:
    """Every node id a node (and everything nested in it) reads from, or waits for (``after``)."""
    out: set[str] = set(node.after)
    if isinstance(node, ir.TaskNode | ir.SubWorkflowNode):
        for a in node.args:
            out.update(binding_nodes(a.value))
    elif isinstance(node, ir.ConditionalNode):
        for br in node.branches:
            if br.condition is not None:
                out.update(condition_nodes(br.condition))
            for n in br.nodes:
                out |= referenced_nodes(n)
    elif isinstance(node, ir.MapNode):
        out.update(binding_nodes(node.items.value))
        out.update(binding_nodes(node.result))
        for n in node.body:
            out |= referenced_nodes(n)
    elif isinstance(node, ir.ExitHandlerNode):
        for a in node.handler.args:
            out.update(binding_nodes(a.value))
        for n in node.body:
            out |= referenced_nodes(n)
    return out
