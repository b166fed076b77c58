"""Splitting a block into child state machines: how many states each part of its plan takes, and which
parts to run as child state machines so that no state machine holds more than a budget of states.

A block's series-parallel plan is cut where it is a sequence: consecutive parts are grouped into
segments of at most ``budget`` states, each run as a child state machine. A part larger than the budget
on its own is split inside: a Parallel into groups of branches (each a child, started side by side), a
sub-workflow without a handler into its own segments. The estimate only chooses the cuts; the compiled
state machines are measured afterwards (see :mod:`.machines`).
"""

from __future__ import annotations

from typedflow import ir

from .analysis import Ctx, Outlined, Par, Plan, Seq
from .options import Options

_EXECUTOR_STATES = {"sqs": 1, "lambda": 1, "ecs": 2, "batch": 3}
CHILD_STATES = 6  # the start, and the five states that take a failed child's error out of its description


class Sizes:
    """State counts of plans and nodes as the compiler will emit them (an estimate)."""

    def __init__(self, doc: ir.WorkflowIR, opts: Options) -> None:
        self.doc = doc
        self.opts = opts
        self.subs: dict[str, int] = {}

    def plan(self, p: Plan, ctx: Ctx) -> int:
        total = 0
        stack: list[Plan] = [p]
        while stack:
            x = stack.pop()
            if isinstance(x, Outlined):
                total += CHILD_STATES
            elif isinstance(x, Seq):
                stack.extend(x.parts)
            elif isinstance(x, Par):
                total += 1 + len(x.parts)  # the Parallel and each branch's closing Pass
                stack.extend(x.parts)
            else:
                total += self.node(x)
        return total

    def node(self, n: ir.Node) -> int:
        """The states of ``n`` and everything in it (sub-workflows inlined)."""
        total = 0
        for m in ir.walk((n,)):
            if isinstance(m, ir.TaskNode):
                total += self._task(m.task)
            elif isinstance(m, ir.FailNode):
                total += 1
            elif isinstance(m, ir.ConditionalNode):
                total += 1 + len(m.branches) + (m.branches[-1].condition is not None)
            elif isinstance(m, ir.MapNode):
                total += 4  # the Map, its result, the items or the guard for missing items
            elif isinstance(m, ir.ExitHandlerNode):
                total += 3 + 2 * self._task(m.handler.task)
            elif isinstance(m, ir.SubWorkflowNode):
                total += self.workflow(m.workflow)
        return total

    def workflow(self, name: str) -> int:
        known = self.subs.get(name)
        if known is None:
            w = self.doc.subworkflow(name)
            known = sum(self.node(n) for n in w.nodes) + len(w.nodes) // 2  # (Parallel overhead, roughly)
            if w.on_failure is not None:
                known += 3 + self._task(w.on_failure.task)
            self.subs[name] = known
        return known

    def _task(self, name: str) -> int:
        return _EXECUTOR_STATES.get(self.opts.executor_of(name), 1)


def outline(plan: Plan, ctx: Ctx, budget: int, sizes: Sizes) -> Plan:
    """``plan`` with its parts grouped into child state machines of at most ``budget`` states each."""
    parts = list(plan.parts) if isinstance(plan, Seq) else [plan]
    out: list[Plan] = []
    run: list[Plan] = []
    used = 0

    def close() -> None:
        nonlocal run, used
        if run:
            out.append(Outlined(run[0] if len(run) == 1 else Seq(tuple(run))))
        run, used = [], 0

    for part in parts:
        n = sizes.plan(part, ctx)
        if n > budget:
            close()
            out.append(_inside(part, ctx, budget, sizes))
        elif used + n > budget:
            close()
            run, used = [part], n
        else:
            run.append(part)
            used += n
    close()
    return _tree(out, budget, Seq)


def _tree(parts: list[Plan], budget: int, kind: type[Seq] | type[Par]) -> Plan:
    """``parts`` (mostly children) in a ``kind`` whose every state machine starts at most as many children
    as fit in ``budget`` states: when there are more, groups of them become children in turn."""
    per = max(2, budget // (CHILD_STATES + 2))
    while len(parts) > per:
        parts = [
            Outlined(parts[i] if i + 1 == min(i + per, len(parts)) else kind(tuple(parts[i : i + per])))
            for i in range(0, len(parts), per)
        ]
    return parts[0] if len(parts) == 1 else kind(tuple(parts))


def _inside(part: Plan, ctx: Ctx, budget: int, sizes: Sizes) -> Plan:
    """A part too large for one child: a Parallel's branches in groups, each group a child started side by
    side with the others; a sub-workflow without a handler stays inline here (its own block is split where
    the compiler meets it); anything else is a child of its own (measured afterwards)."""
    if isinstance(part, Par):
        groups: list[list[Plan]] = [[]]
        used = 1  # the Parallel state
        for branch in part.parts:
            n = sizes.plan(branch, ctx) + 1  # and its closing Pass
            if groups[-1] and used + n > budget:
                groups.append([])
                used = 1
            groups[-1].append(branch)
            used += n
        wrapped: list[Plan] = [
            Outlined(g[0] if len(g) == 1 else Par(tuple(g)))
            if len(g) > 1 or sizes.plan(g[0], ctx) <= budget
            else _inside(g[0], ctx, budget, sizes)  # one branch too large for a child: split inside it
            for g in groups
        ]
        return _tree(wrapped, budget, Par)
    if isinstance(part, Seq):
        return outline(part, ctx, budget, sizes)
    if isinstance(part, ir.SubWorkflowNode) and ctx.sub(part).wf.on_failure is None:
        return part
    return Outlined(part)
