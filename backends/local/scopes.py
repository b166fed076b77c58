"""Scopes of a running workflow: a block of nodes, and the items of a ``map_over``.

A scope knows which of its nodes may start (their siblings finished) and tells its parent when it
ends; the interpreter (:class:`Launcher`) starts nodes and reports them. Nothing here recurses per
node: a node that finishes makes the next ones ready, and the scheduler's loop starts them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from typedflow import ir
from typedflow.runtime.tolerance import tolerated_failures

from .bindings import Env, follow, resolve
from .plan import BlockPlan
from .reports import FAILED, SKIPPED, SUCCEEDED, NodeReport
from .stopping import Stop

MAP_WINDOW = 64  # least number of a map's items in progress at once when it sets no max_concurrency


class Launcher(Protocol):
    """What a scope needs of the interpreter."""

    stop: Stop
    live: bool
    max_workers: int

    def plan(self, nodes: tuple[ir.Node, ...]) -> BlockPlan: ...

    def launch(self, node: ir.Node, scope: Scope) -> None: ...

    def launch_task(self, node: ir.TaskNode, scope: TaskScope, inputs: dict[str, Any] | None = None) -> None: ...

    def skip_tree(self, node: ir.Node, prefix: str, reason: str) -> None: ...

    def progress(self, event: NodeReport) -> None: ...

    def tolerate(self, prefix: str) -> None:
        """The failed nodes under ``prefix`` (a map's items) were tolerated: they are not what fails the run."""

    def later(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` from the scheduler's loop, not from here: what ends at once must not nest."""


class Block:
    """One activation of a list of nodes in an environment."""

    __slots__ = ("done_cb", "ended", "env", "failed", "key", "launcher", "left", "plan", "remaining", "status")

    def __init__(
        self, launcher: Launcher, nodes: tuple[ir.Node, ...], env: Env, key: str, done_cb: Callable[[bool], None]
    ) -> None:
        self.launcher = launcher
        self.plan = launcher.plan(nodes)
        self.env = env
        self.key = key
        self.done_cb = done_cb
        self.remaining = {n.id: len(self.plan.deps[n.id]) for n in nodes}
        self.status: dict[str, str] = {}
        self.left = len(nodes)
        self.failed = False
        self.ended = False

    def start(self) -> None:
        if self.left == 0:
            self._end()
            return
        # Snapshot first: a node can finish synchronously (resumed) and make others ready.
        ready = [n for n in self.plan.nodes if self.remaining[n.id] == 0]
        for n in ready:
            self.launcher.launch(n, self)

    def finish(self, node_id: str, ok: bool) -> None:
        self.status[node_id] = SUCCEEDED if ok else FAILED
        self.left -= 1
        if not ok:
            self.failed = True
            self._skip_downstream(node_id)
        else:
            for d in self.plan.dependents[node_id]:
                self.remaining[d] -= 1
                if self.remaining[d] == 0 and d not in self.status:
                    self.launcher.launch(self.plan.by_id[d], self)
        if self.left == 0:
            self._end()

    def _end(self) -> None:
        # Once: a node launched above can finish before launch() returns (an empty map, a `when`
        # with no branch taken) and end the block from that nested finish() already.
        if not self.ended:
            self.ended = True
            self.done_cb(not self.failed)

    def _skip_downstream(self, node_id: str) -> None:
        stack = list(self.plan.dependents[node_id])
        while stack:
            d = stack.pop()
            if d in self.status:
                continue
            self.status[d] = SKIPPED
            self.left -= 1
            self.launcher.skip_tree(self.plan.by_id[d], self.key, f"upstream {node_id} failed")
            stack.extend(self.plan.dependents[d])


class Single:
    """A block of one node (most ``map_over`` bodies): nothing to order, nothing downstream to skip."""

    __slots__ = ("done_cb", "env", "key", "launcher", "node")

    def __init__(self, launcher: Launcher, node: ir.Node, env: Env, key: str, done_cb: Callable[[bool], None]) -> None:
        self.launcher = launcher
        self.node = node
        self.env = env
        self.key = key
        self.done_cb = done_cb

    def start(self) -> None:
        self.launcher.launch(self.node, self)

    def finish(self, node_id: str, ok: bool) -> None:
        self.done_cb(ok)


Scope = Block | Single


def block(launcher: Launcher, nodes: tuple[ir.Node, ...], env: Env, key: str, done_cb: Callable[[bool], None]) -> Scope:
    if len(nodes) == 1:
        return Single(launcher, nodes[0], env, key, done_cb)
    return Block(launcher, nodes, env, key, done_cb)


class MapItem:
    """One item of a ``map_over`` whose body is one task: its block and its environment in one. The
    task's arguments are resolved by the map, so this environment only receives the task's outputs."""

    __slots__ = ("i", "key", "map", "values")

    def __init__(self, i: int, key: str, map_: MapRun) -> None:
        self.i = i
        self.key = key
        self.map = map_
        self.values: dict[str, dict[str, Any] | None] = {}

    @property
    def env(self) -> MapItem:
        return self

    def finish(self, node_id: str, ok: bool) -> None:
        m = self.map
        if not ok:
            m.item_done(self.i, False, None)
            return
        ref = m.node.result
        assert isinstance(ref, ir.OutputRef)
        outs = self.values.get(ref.node)  # as resolve() reads an output
        value = None if outs is None else follow(outs if ref.output is None else outs.get(ref.output), ref.path)
        m.item_done(self.i, True, value)


TaskScope = Scope | MapItem  # where a task node can run


class MapRun:
    """One ``map_over`` in progress: it starts its items a window at a time and collects their results."""

    __slots__ = (
        "block",
        "done",
        "failed",
        "fixed",
        "items",
        "launcher",
        "limit",
        "next",
        "node",
        "per_item",
        "refilling",
        "results",
        "running",
        "starting",
        "task",
        "tolerated",
    )

    def __init__(self, launcher: Launcher, node: ir.MapNode, scope: Scope) -> None:
        self.launcher = launcher
        self.node = node
        self.block = scope
        self.items: list[Any] = resolve(node.items.value, scope.env) or []
        n = len(self.items)
        self.results: list[Any] = [None] * n
        # Without a max_concurrency, items are started a window ahead of the workers rather than all
        # at once: the workers are kept busy all the same, and a long map does not hold every waiting
        # item's state (environment, inputs, cache probe) alive from its start.
        self.limit = node.max_concurrency or min(n, max(MAP_WINDOW, 4 * launcher.max_workers)) or 1
        self.next = self.running = self.done = self.failed = 0
        # Failed items within this many leave None in their place: the rule Step Functions applies to the
        # ToleratedFailurePercentage the compiler gives it (see typedflow.runtime.tolerance).
        self.tolerated = tolerated_failures(node.tolerated_failure, n)
        self.starting = False
        self.refilling = False
        # Most bodies are one task whose output is the result: each item is then a MapItem, its
        # arguments that do not depend on the item resolved once for the whole map.
        body = node.body[0] if len(node.body) == 1 and isinstance(node.body[0], ir.TaskNode) else None
        ref = node.result
        self.task = body if body is not None and isinstance(ref, ir.OutputRef) and ref.node == body.id else None
        self.fixed: dict[str, Any] = {}
        self.per_item: list[tuple[str, tuple[str, ...]]] = []
        if self.task is not None:
            for a in self.task.args:
                b = a.value
                if isinstance(b, ir.ItemRef) and b.map == node.id:
                    self.per_item.append((a.param, b.path))
                else:
                    self.fixed[a.param] = resolve(b, scope.env)

    def start(self) -> None:
        """Start the first items; an empty map ends at once."""
        if self.launcher.live:
            self.launcher.progress(
                NodeReport(self.block.key + self.node.id, self.node.id, None, "map", items=len(self.items))
            )
        if not self.items:
            self.block.env.values[self.node.id] = {"out": []}
            self.launcher.later(functools.partial(self.block.finish, self.node.id, True))
            return
        self.start_next()

    def start_next(self) -> None:
        if self.starting:  # an item that ended while it was being started: the loop below goes on
            return
        self.starting = True
        try:
            self._start_items()
        finally:
            self.starting = False

    def _start_items(self) -> None:
        launcher, node, outer = self.launcher, self.node, self.block.env
        while self.next < len(self.items) and self.running < self.limit and launcher.stop.signum is None:
            i = self.next
            self.next += 1
            self.running += 1
            item = self.items[i]
            key = f"{self.block.key}{node.id}[{i}]/"
            if self.task is not None:
                inputs = dict(self.fixed)
                for param, path in self.per_item:
                    inputs[param] = follow(item, path)
                launcher.launch_task(self.task, MapItem(i, key, self), inputs)
                continue
            env = Env(outer.inputs, outer, {**outer.items, node.id: item} if outer.items else {node.id: item})
            block(launcher, node.body, env, key, functools.partial(self._body_done, i, env)).start()

    def _body_done(self, i: int, env: Env, ok: bool) -> None:
        self.item_done(i, ok, resolve(self.node.result, env) if ok else None)

    def item_done(self, i: int, ok: bool, value: Any) -> None:
        self.running -= 1
        self.done += 1
        if self.launcher.live:
            key = f"{self.block.key}{self.node.id}[{i}]"
            self.launcher.progress(NodeReport(key, self.node.id, None, "item" if ok else "item-failed"))
        if ok:
            self.results[i] = value
        else:
            self.failed += 1
        if self.done == len(self.items):
            ok = self.failed <= self.tolerated
            if ok:
                self.block.env.values[self.node.id] = {"out": self.results}
                if self.failed:
                    self.launcher.tolerate(f"{self.block.key}{self.node.id}[")
            self.block.finish(self.node.id, ok)
        elif not self.refilling:
            # Once for the items that end together (a batch settled by the interpreter): their successors
            # are then started in a row, which keeps that code in the CPU's caches.
            self.refilling = True
            self.launcher.later(self._refill)

    def _refill(self) -> None:
        self.refilling = False
        self.start_next()
