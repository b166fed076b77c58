"""Splitting a block into child state machines: how many states each part of its plan takes, and which
parts to run as child state machines so that no state machine holds more than a budget of states.

A block's series-parallel plan is cut where it is a sequence: consecutive parts are grouped into
segments of at most ``budget`` states, each run as a child state machine. A part larger than the budget
on its own is split inside: a Parallel into groups of branches (each a child, started side by side), a
sub-workflow without a handler into its own segments. The estimate only chooses the cuts; the compiled
state machines are measured afterwards (see :func:`.compiler.compile_machines`).

A workflow whose task states alone are past the limits (:func:`past_limits`) is not compiled whole first
to measure how far over it is: the budget comes from an estimate of its states, bytes and history events.
"""

from __future__ import annotations

import attrs

from typedflow import ir

from .analysis import Ctx, Outlined, Par, Plan, Seq
from .options import Options
from .protocol import HISTORY_LIMIT

# A task node's states by executor: how many, their compact JSON bytes (about, as a chain of tasks compiles
# them) and the history events of one run (exactly, as limits.estimate_events counts them); any other state
# takes about _STATE_BYTES bytes and 2 events.
_EXECUTOR_STATES = {"sqs": 1, "lambda": 1, "ecs": 2, "batch": 3}
_EXECUTOR_BYTES = {"sqs": 850, "lambda": 800, "ecs": 1200, "batch": 1500}
_EXECUTOR_EVENTS = {"sqs": 6, "lambda": 6, "ecs": 8, "batch": 14}
_STATE_BYTES = 160
_STATE_EVENTS = 2
CHILD_STATES = 6  # the start, and the five states that take a failed child's error out of its description


@attrs.frozen
class Tasks:
    """The states of the task nodes of a block (sub-workflows inlined, handlers where they run)."""

    states: int = 0
    bytes: int = 0  # estimated
    events: int = 0  # of those outside map_over bodies (a map's items are not counted)

    def __add__(self, other: Tasks) -> Tasks:
        return Tasks(self.states + other.states, self.bytes + other.bytes, self.events + other.events)


@attrs.frozen
class Estimate:
    """A workflow compiled into one state machine, estimated without compiling it."""

    states: int
    bytes: int
    events: int  # of one run, a map's items left out (no split changes them)


class Sizes:
    """State counts of plans and nodes as the compiler will emit them (an estimate)."""

    def __init__(self, doc: ir.WorkflowIR, opts: Options) -> None:
        self.doc = doc
        self.opts = opts
        self.subs: dict[str, int] = {}
        self.sub_tasks: dict[tuple[str, bool], Tasks] = {}
        self.plans: dict[int, tuple[Plan, int]] = {}  # id(plan) -> (plan, its states)

    def plan(self, p: Plan, ctx: Ctx) -> int:
        """The states of ``p``; every plan nested in it is remembered too (outlining asks for a nested plan's
        size once per enclosing level), worked out children first without recursion."""
        memo = self.plans
        stack: list[tuple[Plan, bool]] = [(p, False)]
        while stack:
            x, ready = stack.pop()
            known = memo.get(id(x))
            if known is not None and known[0] is x:
                continue
            if isinstance(x, Seq | Par) and not ready:
                stack.append((x, True))
                stack.extend((c, False) for c in x.parts)
                continue
            if isinstance(x, Outlined):
                n = CHILD_STATES
            elif isinstance(x, Seq):
                n = sum(memo[id(c)][1] for c in x.parts)
            elif isinstance(x, Par):
                n = 1 + len(x.parts) + sum(memo[id(c)][1] for c in x.parts)  # the Parallel, each branch's Pass
            else:
                n = self.node(x)
            memo[id(x)] = (x, n)  # (kept with the plan: its id is not reused while it is here)
        return memo[id(p)][1]

    def node(self, n: ir.Node) -> int:
        """The states of ``n`` and everything in it (sub-workflows inlined)."""
        if isinstance(n, ir.TaskNode):  # (most nodes: nothing inside to walk)
            return self._task(n.task)
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

    def tasks(self, nodes: tuple[ir.Node, ...], mapped: bool = False) -> Tasks:
        """The task states of ``nodes`` and everything in them; ``mapped``: inside a map_over body."""
        total = Tasks()
        stack = [(n, mapped) for n in nodes]
        while stack:
            n, inside = stack.pop()
            if isinstance(n, ir.TaskNode):
                total += self._task_load(n.task, inside)
            elif isinstance(n, ir.ConditionalNode):
                stack.extend((m, inside) for b in n.branches for m in b.nodes)
            elif isinstance(n, ir.MapNode):
                stack.extend((m, True) for m in n.body)
            elif isinstance(n, ir.ExitHandlerNode):  # its handler runs on success and on failure
                stack.extend((m, inside) for m in n.body)
                total += self._task_load(n.handler.task, inside) + self._task_load(n.handler.task, inside)
            elif isinstance(n, ir.SubWorkflowNode):
                known = self.sub_tasks.get((n.workflow, inside))
                if known is None:
                    known = self.sub_tasks[(n.workflow, inside)] = self.workflow_tasks(
                        self.doc.subworkflow(n.workflow), inside
                    )
                total += known
        return total

    def workflow_tasks(self, w: ir.Workflow, mapped: bool = False) -> Tasks:
        """The task states of a workflow, its on_failure handler's included."""
        total = self.tasks(w.nodes, mapped)
        return total + self._task_load(w.on_failure.task, mapped) if w.on_failure is not None else total

    def _task_load(self, name: str, mapped: bool) -> Tasks:
        kind = self.opts.executor_of(name)
        events = 0 if mapped else _EXECUTOR_EVENTS.get(kind, 6)
        return Tasks(_EXECUTOR_STATES.get(kind, 1), _EXECUTOR_BYTES.get(kind, 1000), events)


def past_limits(doc: ir.WorkflowIR, opts: Options, plan: Plan | None) -> Estimate | None:
    """The estimate of ``doc`` in one state machine, when its task states alone show that it cannot be one
    (whatever the error of the estimate): their history events outside maps are over the quota, or there are
    more of them than ``opts.max_states``. None when it may fit: then only compiling it whole tells.
    ``plan``: the workflow's (``decompose`` of its nodes)."""
    sizes = Sizes(doc, opts)
    tasks = sizes.workflow_tasks(doc.workflow)
    over_history = tasks.events + 2 > HISTORY_LIMIT
    if not over_history and (opts.max_states is None or tasks.states <= opts.max_states):
        return None
    states = 3 + (sizes.plan(plan, Ctx(doc, doc.workflow)) if plan is not None else 0)  # and inputs, outputs, failed
    others = max(0, states - tasks.states)
    return Estimate(states, tasks.bytes + others * _STATE_BYTES, tasks.events + others * _STATE_EVENTS)


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
