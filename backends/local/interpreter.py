"""The local interpreter: runs the IR with real concurrency.

One scheduler thread owns all run state and reacts to completions; task attempts run on a pool
of worker threads (or worker processes, see :mod:`.isolation`). Blocks (the workflow body, a
``when`` branch, one ``map_over`` item, a sub-workflow) are dependency-driven: a node starts as soon
as the siblings it reads from have finished.
"""

from __future__ import annotations

import collections
import functools
import math
import queue
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs

from typedflow import ir
from typedflow.errors import RunInterrupted
from typedflow.runtime.execute import CacheProbe, Outcome, TaskError, probe
from typedflow.timestamps import at_ns, utcnow

from .bindings import Env, follow, holds, resolve
from .isolation import Runner
from .journal import Journal
from .plan import plan
from .retry import Clock, delay, retryable
from .stopping import Abandon, Stop, signal_name

INLINE_SECONDS = 0.001
# (template name, code digest) -> its moving average execution time (s) at the end of the last run
# in this process that ran it: a later run starts knowing which tasks are quick (see dispatch()).
_DURATIONS: dict[tuple[str, str], float] = {}
FAILURE_INPUT = "$failure"  # the input an on_failure handler's Failure parameter is bound to
MAP_WINDOW = 64  # least number of a map's items in progress at once when it sets no max_concurrency
PENDING, RUNNING, SUCCEEDED, CACHED, FAILED, SKIPPED = "pending", "running", "succeeded", "cached", "failed", "skipped"


@attrs.define
class NodeReport:
    key: str
    node: str
    task: str | None
    status: str
    attempts: int = 0
    duration: float = 0.0
    started_at: str = ""
    ended_at: str = ""
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    cache_key: str | None = None
    inputs: dict[str, Any] = attrs.Factory(dict)
    outputs: dict[str, Any] = attrs.Factory(dict)
    reason: str = ""
    input_digests: dict[str, str] = attrs.Factory(dict)
    items: int = 0  # for "map" progress events: how many items the map has


Listener = Callable[[NodeReport], None]


class _Block:
    """One activation of a list of nodes in an environment."""

    __slots__ = ("done_cb", "ended", "env", "failed", "interp", "key", "left", "plan", "remaining", "status")

    def __init__(
        self, interp: Interpreter, nodes: tuple[ir.Node, ...], env: Env, key: str, done_cb: Callable[[bool], None]
    ) -> None:
        self.interp = interp
        self.plan = plan(nodes)
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
            self.interp.launch(n, self)

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
                    self.interp.launch(self._node(d), self)
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
            self.interp.skip_tree(self._node(d), self.key, f"upstream {node_id} failed")
            stack.extend(self.plan.dependents[d])

    def _node(self, node_id: str) -> ir.Node:
        return self.plan.by_id[node_id]


class _Single:
    """A block of one node (most ``map_over`` bodies): nothing to order, nothing downstream to skip."""

    __slots__ = ("done_cb", "env", "interp", "key", "node")

    def __init__(self, interp: Interpreter, node: ir.Node, env: Env, key: str, done_cb: Callable[[bool], None]) -> None:
        self.interp = interp
        self.node = node
        self.env = env
        self.key = key
        self.done_cb = done_cb

    def start(self) -> None:
        self.interp.launch(self.node, self)

    def finish(self, node_id: str, ok: bool) -> None:
        self.done_cb(ok)


class _MapItem:
    """One item of a ``map_over`` whose body is one task: its block and its environment in one.

    The task's arguments are resolved by the map (see ``_item_args``), so this environment only
    receives the task's outputs, in ``values``; ``finish`` hands them to the map."""

    __slots__ = ("done_cb", "i", "key", "values")

    def __init__(self, i: int, key: str, done_cb: Callable[[_MapItem, bool], None]) -> None:
        self.i = i
        self.key = key
        self.done_cb = done_cb
        self.values: dict[str, dict[str, Any] | None] = {}

    @property
    def env(self) -> _MapItem:
        return self

    def finish(self, node_id: str, ok: bool) -> None:
        self.done_cb(self, ok)


_ItemArgs = tuple[tuple[str, tuple[str, ...]], ...]


def _item_args(task: ir.TaskNode, map_id: str, outer: Env) -> tuple[dict[str, Any], _ItemArgs]:
    """A map body task's arguments: those that do not depend on the item, resolved once in the map's
    environment (what an item's environment would give them), and (param, path) of those that do."""
    fixed: dict[str, Any] = {}
    per_item = []
    for a in task.args:
        b = a.value
        if isinstance(b, ir.ItemRef) and b.map == map_id:
            per_item.append((a.param, b.path))
        else:
            fixed[a.param] = resolve(b, outer)
    return fixed, tuple(per_item)


_Scope = _Block | _Single
_TaskScope = _Scope | _MapItem  # where a task node can run


def _block(
    interp: Interpreter, nodes: tuple[ir.Node, ...], env: Env, key: str, done_cb: Callable[[bool], None]
) -> _Scope:
    if len(nodes) == 1:
        return _Single(interp, nodes[0], env, key, done_cb)
    return _Block(interp, nodes, env, key, done_cb)


class Interpreter:
    """Runs one workflow IR once. Use :func:`typedflow.run.run` rather than this directly."""

    def __init__(
        self,
        doc: ir.WorkflowIR,
        *,
        runner: Runner,
        max_workers: int,
        use_cache: bool,
        clock: Clock,
        journal: Journal | None,
        resumed: dict[str, dict[str, Any]] | None,
        listener: Listener | None,
        run_id: str,
        live: bool = True,
        on_idle: Callable[[], None] | None = None,
        stop: Stop | None = None,
    ) -> None:
        self.doc = doc
        self.runner = runner
        self.use_cache = use_cache
        self.clock = clock
        self.journal = journal
        self.resumed = resumed or {}
        self.listener = listener
        # Whether the listener follows progress (running tasks, map items) or only wants each
        # node's final report: a run without a progress view saves those reports per task.
        self.live = live and listener is not None
        self.run_id = run_id
        self.on_idle = on_idle  # called when the scheduler is about to wait for tasks that may take a while
        self.events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.max_workers = max_workers
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="typedflow-task")
        self.reports: dict[str, NodeReport] = {}
        self.active = 0
        self.failures: list[NodeReport] = []
        self.tasks = {t.name: t for t in doc.tasks}
        self.effective: dict[int, ir.TaskTemplate] = {}  # id(node) -> its template with the call's options
        self.ready: list[tuple[ir.TaskNode, _TaskScope, str, ir.TaskTemplate, dict[str, Any], CacheProbe]] = []
        self.running = 0
        self.settled: collections.deque[Callable[[], None]] = collections.deque()
        self.quick: dict[str, float] = {}  # template -> moving average of its execution time (s)
        # A stop asked by a signal (see .stopping); what runs on worker threads, by key (-> template).
        self.stop = stop if stop is not None else Stop()
        self.stop.wake = functools.partial(self.events.put, _nothing)
        if self.live:
            self.stop.notify = self._stopping
        self.inflight: dict[str, str] = {}

    # ------------------------------------------------------------------ reporting
    def report(self, rep: NodeReport) -> None:
        self.reports[rep.key] = rep
        if rep.status == FAILED:
            self.failures.append(rep)
        if self.listener is not None:
            self.listener(rep)

    def progress(self, rep: NodeReport) -> None:
        """A progress event that is not a node's state (a map starting, a map item done); callers make
        one only when ``self.live``."""
        if self.listener is not None:
            self.listener(rep)

    def skip_tree(self, node: ir.Node, prefix: str, reason: str) -> None:
        for n in ir.walk((node,)):
            if isinstance(n, ir.TaskNode):
                self.report(NodeReport(prefix + n.id, n.id, n.task, SKIPPED, reason=reason))

    # ------------------------------------------------------------------ running
    def run(self, inputs: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        wf = self.doc.workflow
        env = Env(inputs)
        result: dict[str, Any] = {}

        def done(ok: bool) -> None:
            result["ok"] = ok

        root = _block(self, wf.nodes, env, "", done)
        self.active += 1
        self.events.put(root.start)
        stop = self.stop
        try:
            events, on_idle = self.events, self.on_idle
            try:
                while "ok" not in result and stop.signum is None:
                    if on_idle is not None and events.empty():
                        on_idle()
                    events.get()()
                    self.dispatch()
            except Abandon:  # the task running on this thread was abandoned: the run is stopping
                pass
            if "ok" not in result:
                self._wind_down(result)
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._remember_durations()
        outputs = {a.param: resolve(a.value, env) for a in wf.results} if result["ok"] else {}
        return bool(result["ok"]), outputs

    def _wind_down(self, result: dict[str, Any]) -> None:
        """A stop was asked: no task starts; tasks on worker threads have until the stop's deadline to
        finish, and what finishes is journaled as usual. Raises RunInterrupted, unless the run ended
        meanwhile."""
        stop = self.stop
        assert stop.signum is not None
        try:
            while self.running and not stop.now and "ok" not in result:
                left = stop.deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    event = self.events.get(timeout=left)
                except queue.Empty:
                    break
                event()
        except Abandon:
            pass
        if "ok" not in result:
            raise RunInterrupted(self.run_id, signal_name(stop.signum), sorted(self.inflight))

    def _stopping(self) -> None:
        """The progress event of a stop (``items``: tasks waited for, ``attempts``: tasks killed); on a
        thread of its own, as the signal arrives."""
        stop = self.stop
        waiting = max(0, self.running + stop.inline - stop.killed)
        left = max(0.0, stop.deadline - time.monotonic()) if waiting and not stop.now else 0.0
        signum = stop.signum or 0
        self.progress(
            NodeReport(
                self.run_id,
                self.doc.workflow.name,
                None,
                "stopping",
                reason=signal_name(signum),
                duration=left,
                items=waiting,
                attempts=stop.killed,
            )
        )

    def _remember_durations(self) -> None:
        if len(_DURATIONS) > 4096:  # a bound for processes that run many different workflows
            _DURATIONS.clear()
        for name, est in self.quick.items():
            _DURATIONS[(name, self.tasks[name].code_digest)] = est

    def launch(self, node: ir.Node, block: _Scope) -> None:
        if isinstance(node, ir.TaskNode):
            self.launch_task(node, block)
        elif isinstance(node, ir.ConditionalNode):
            self.launch_conditional(node, block)
        elif isinstance(node, ir.MapNode):
            self.launch_map(node, block)
        elif isinstance(node, ir.FailNode):
            self.launch_fail(node, block)
        elif isinstance(node, ir.ExitHandlerNode):
            self.launch_exit_handler(node, block)
        else:
            self.launch_subworkflow(node, block)

    def launch_exit_handler(self, node: ir.ExitHandlerNode, block: _Scope) -> None:
        inner = {m.id for m in ir.walk(node.body)}

        def done(ok: bool) -> None:
            if self.stop.signum is not None:
                block.finish(node.id, False)
                return
            failure = None
            if not ok:
                first = next((r for r in self.failures if r.key.startswith(block.key) and r.node in inner), None)
                failure = self.failure_of(first.key if first is not None else block.key)
            env = Env({**block.env.inputs, FAILURE_INPUT: failure}, block.env)

            def then(handled: bool) -> None:
                block.finish(node.id, ok and handled)

            key = f"{block.key}{node.id}/{node.handler.task}"
            self.launch_handler(node.handler, env, key, node.id, then)

        _block(self, node.body, block.env, block.key, done).start()

    def launch_fail(self, node: ir.FailNode, block: _Scope) -> None:
        now = utcnow()
        self.report(
            NodeReport(
                block.key + node.id,
                node.id,
                None,
                FAILED,
                started_at=now,
                ended_at=now,
                error_type=ir.FAIL_ERROR,
                message=node.message,
            )
        )
        self.settled.append(functools.partial(block.finish, node.id, False))

    def launch_conditional(self, node: ir.ConditionalNode, block: _Scope) -> None:
        chosen: ir.Branch | None = None
        for br in node.branches:
            if br.condition is None or holds(br.condition, block.env):
                chosen = br
                break
        for br in node.branches:
            if br is not chosen:
                for n in br.nodes:
                    self.skip_tree(n, block.key, "condition not met")
        if chosen is None:
            block.finish(node.id, True)
            return
        _block(self, chosen.nodes, block.env, block.key, lambda ok: block.finish(node.id, ok)).start()

    def launch_map(self, node: ir.MapNode, block: _Scope) -> None:
        items = resolve(node.items.value, block.env) or []
        n = len(items)
        map_key = block.key + node.id
        if self.live:
            self.progress(NodeReport(map_key, node.id, None, "map", items=n))
        results: list[Any] = [None] * n
        # Without a max_concurrency, items are started a window ahead of the workers rather than all
        # at once: the pool is kept busy all the same, and a long map does not hold every waiting
        # item's state (environment, inputs, cache probe) alive from its start.
        limit = node.max_concurrency or min(n, max(MAP_WINDOW, 4 * self.max_workers)) or 1
        state = {"next": 0, "running": 0, "done": 0, "failed": 0}
        # failed items within this many leave None in their place (Step Functions' ToleratedFailurePercentage:
        # the map fails when more than that share failed); the epsilon keeps 0.29 * 100 at 29
        tolerated = math.floor(node.tolerated_failure * n + 1e-9)
        outer = block.env
        # Most bodies are one task whose output is the result: each item is then one _MapItem, its
        # arguments that do not depend on the item resolved once for the whole map.
        body = node.body[0] if len(node.body) == 1 and isinstance(node.body[0], ir.TaskNode) else None
        ref = node.result
        task = body if body is not None and isinstance(ref, ir.OutputRef) and ref.node == body.id else None
        if task is not None:
            assert isinstance(ref, ir.OutputRef)
            fixed, per_item = _item_args(task, node.id, outer)
            out_node, out_name, out_path = ref.node, ref.output, ref.path
            template = self.template_of(task)
            here = self.runner.inline_ok(template, False)  # whether its items may run on this thread at all

        def start_next() -> None:
            while state["next"] < n and state["running"] < limit and self.stop.signum is None:
                i = state["next"]
                state["next"] += 1
                state["running"] += 1
                item = items[i]
                key = f"{block.key}{node.id}[{i}]/"
                if task is not None:
                    inputs = dict(fixed)
                    for param, path in per_item:
                        inputs[param] = follow(item, path)
                    run_item(i, key, inputs)
                    continue
                env = Env(outer.inputs, outer, {**outer.items, node.id: item} if outer.items else {node.id: item})
                _block(self, node.body, env, key, functools.partial(item_done, i, env)).start()

        def run_item(i: int, key: str, inputs: dict[str, Any]) -> None:
            """Item ``i`` of a one-task body. A quick task (or a cache hit) runs and is settled right here,
            in this loop: what launch_task(), dispatch() and task_result() would do for it, without its
            trip through the ready list. Anything else (a slow or new task, a failure, a resumed item)
            goes the general way."""
            assert task is not None
            tkey = key + task.id
            if here and not (self.resumed and tkey in self.resumed):
                known = probe(template, inputs, self.runner.store, self.use_cache)
                result: Outcome | TaskError | None = known.hit
                attempt = 0
                if result is None:
                    if self.live:
                        self._running(task, tkey, inputs)
                    est = self.quick.get(template.name)
                    if est is None and n - i > self.max_workers:  # as dispatch() does
                        est = _DURATIONS.get((template.name, template.code_digest))
                    if est is not None and est < INLINE_SECONDS:
                        result, attempt = self._attempt_here(template, inputs, tkey, known)
                if isinstance(result, Outcome):
                    self.succeeded(task, tkey, inputs, result, attempt)
                    outs = result.outputs
                    value = follow(outs if out_name is None else outs.get(out_name), out_path)
                    if state["done"] + 1 < n:
                        settle(i, True, value)
                    else:  # the map's end starts what follows it: from dispatch(), so maps in a row do not nest
                        self.settled.append(functools.partial(end, i, True, value))
                    return
                scope = _MapItem(i, key, one_task_done)
                if result is None:  # not quick (yet): to the workers, from dispatch()
                    self.ready.append((task, scope, tkey, template, inputs, known))
                elif not self._retry_later(task, scope, tkey, template, inputs, known, result, attempt):
                    # failed: reported from dispatch(), not from inside this loop
                    self.settled.append(functools.partial(self.task_result, task, scope, tkey, inputs, result, attempt))
                return
            self.launch_task(task, _MapItem(i, key, one_task_done), inputs)

        def one_task_done(it: _MapItem, ok: bool) -> None:
            if not ok:
                end(it.i, False, None)
                return
            outs = it.values.get(out_node)  # as resolve() reads an output
            value = None if outs is None else follow(outs if out_name is None else outs.get(out_name), out_path)
            end(it.i, True, value)

        def item_done(i: int, env: Env, ok: bool) -> None:
            end(i, ok, resolve(node.result, env) if ok else None)

        def settle(i: int, ok: bool, result: Any) -> bool:
            """Count item ``i`` done; True when it was the last (the map has ended)."""
            state["running"] -= 1
            state["done"] += 1
            if self.live:
                self.progress(NodeReport(f"{map_key}[{i}]", node.id, None, "item" if ok else "item-failed"))
            if ok:
                results[i] = result
            else:
                state["failed"] += 1
            if state["done"] == n:
                ok = state["failed"] <= tolerated
                if ok:
                    block.env.values[node.id] = {"out": results}
                block.finish(node.id, ok)
                return True
            return False

        def end(i: int, ok: bool, result: Any) -> None:
            if not settle(i, ok, result):
                start_next()

        if n == 0:
            block.env.values[node.id] = {"out": []}
            block.finish(node.id, True)
            return
        start_next()

    def launch_subworkflow(self, node: ir.SubWorkflowNode, block: _Scope) -> None:
        sub = self.doc.subworkflow(node.workflow)
        inputs = {a.param: resolve(a.value, block.env) for a in node.args}
        env = Env(inputs, None, {})
        prefix = f"{block.key}{node.id}/"

        def done(ok: bool) -> None:
            if ok:
                block.env.values[node.id] = {a.param: resolve(a.value, env) for a in sub.results}
            elif sub.on_failure is not None and self.stop.signum is None:
                # The sub-workflow's own handler runs first; the node then fails as before (and the caller's
                # handler, if any, sees the same failure), as on every target.
                handler_env = Env({**inputs, FAILURE_INPUT: self.failure_of(prefix)})
                key = f"{prefix}on_failure/{sub.on_failure.task}"
                self.launch_handler(
                    sub.on_failure, handler_env, key, "on_failure", lambda _: block.finish(node.id, False)
                )
                return
            block.finish(node.id, ok)

        _block(self, sub.nodes, env, prefix, done).start()

    def failure_of(self, prefix: str = "") -> dict[str, Any]:
        """The ``typedflow.Failure`` of the first failed node under ``prefix`` (the whole run: "")."""
        first = next((r for r in self.failures if r.key.startswith(prefix)), None)
        return {
            "workflow": self.doc.workflow.name,
            "run_id": self.run_id,
            "node": first.key if first else "",
            "error_type": first.error_type if first else "",
            "message": first.message if first else "",
            "traceback": first.traceback if first else "",
        }

    def launch_handler(self, of: ir.OnFailure, env: Env, key: str, label: str, then: Callable[[bool], None]) -> None:
        """Run a handler (a sub-workflow's ``on_failure``, an exit handler) as node ``key`` on a worker (its
        own retry policy, never cached), report it, then call ``then(succeeded)`` from the scheduler."""
        args = {a.param: resolve(a.value, env) for a in of.args}
        template = self.tasks[of.task]
        self.running += 1
        self.inflight[key] = of.task

        def completed(f: Future[tuple[Outcome | TaskError, int]]) -> None:
            self.events.put(functools.partial(settle, f))

        def settle(f: Future[tuple[Outcome | TaskError, int]]) -> None:
            self.running -= 1
            self.inflight.pop(key, None)
            try:
                result, attempts = f.result()
            except BaseException as exc:  # the runner itself broke: report it as the handler's failure
                result, attempts = TaskError(type(exc).__name__, str(exc)), 1
            self.report_handler(of, key, args, result, attempts, label)
            then(not isinstance(result, TaskError))

        fut = self.pool.submit(self.attempts, template, args, key, None, use_cache=False)
        fut.add_done_callback(completed)

    def report_handler(
        self,
        of: ir.OnFailure,
        key: str,
        args: dict[str, Any],
        result: Outcome | TaskError,
        attempts: int,
        label: str = "on_failure",
    ) -> None:
        """The report of an ``on_failure`` handler's run (its failure is reported next to what it handled)."""
        if isinstance(result, TaskError):
            rep = NodeReport(
                key,
                label,
                of.task,
                FAILED,
                attempts=attempts,
                inputs=args,
                started_at=result.started_at,
                ended_at=utcnow(),
                error_type=result.error_type,
                message=result.message,
                traceback=result.traceback,
            )
        else:
            rep = NodeReport(
                key,
                label,
                of.task,
                SUCCEEDED,
                attempts=attempts,
                inputs=args,
                outputs=result.outputs,
                started_at=result.started_at,
                ended_at=result.ended_at,
            )
        self.report(rep)

    def template_of(self, node: ir.TaskNode) -> ir.TaskTemplate:
        """The template as this node runs it: with the call's own options (``task.options(...)``)."""
        if node.options is None:
            return self.tasks[node.task]
        made = self.effective.get(id(node))
        if made is None:
            made = self.effective[id(node)] = ir.effective(self.tasks[node.task], node.options)
        return made

    def launch_task(self, node: ir.TaskNode, block: _TaskScope, inputs: dict[str, Any] | None = None) -> None:
        """Start a task node in ``block``; ``inputs``: its arguments, when the caller resolved them."""
        key = block.key + node.id
        template = self.template_of(node)
        if inputs is None:
            env = block.env
            assert isinstance(env, Env), "a map item's task gets its inputs from the map"
            inputs = {a.param: resolve(a.value, env) for a in node.args}
        prior = self.resumed.get(key)
        if prior is not None:
            block.env.values[node.id] = prior["outputs"]
            self.report(
                NodeReport(key, node.id, node.task, CACHED, inputs=inputs, outputs=prior["outputs"], reason="resumed")
            )
            self.settled.append(functools.partial(block.finish, node.id, True))
            return
        # The cache is looked up here: a hit needs no thread hand-off, and a miss is not looked up again.
        known = probe(template, inputs, self.runner.store, self.use_cache)
        if known.hit is not None:
            self.settled.append(functools.partial(self.task_result, node, block, key, inputs, known.hit, 0))
            return
        if self.live:
            self._running(node, key, inputs)
        self.ready.append((node, block, key, template, inputs, known))

    def _running(self, node: ir.TaskNode, key: str, inputs: dict[str, Any]) -> None:
        """A task missed the cache and is about to run or wait for a worker (reported when ``self.live``)."""
        self.report(NodeReport(key, node.id, node.task, RUNNING, inputs=inputs, started_at=utcnow()))

    def dispatch(self) -> None:
        """Start ready tasks. A task runs right here on the scheduler thread when that cannot cost
        concurrency or time: it is the only ready task and nothing else runs, or its template has so
        far always finished within ``INLINE_SECONDS`` (handing such a task to a thread costs more than
        the task, and pure-Python work does not run in parallel threads anyway). At most
        ``max_workers`` tasks are handed to the pool at once; the rest wait here, so the first
        completions can tell quick templates apart before a thousand map items are queued.

        A template this run has not timed yet may be known from an earlier run in this process
        (``_DURATIONS``, by name and code digest): when more items wait than there are workers, a
        template that was quick then runs its first item here, which this run then times (a task that
        has become slow, e.g. on larger data, costs one item's time of concurrency, once)."""
        while (self.ready or self.settled) and self.stop.signum is None:
            # Nodes settled without running (cache hits, resumed) are finished from this loop, not
            # from where they were found: a long chain of hits must not become a deep recursion.
            while self.settled:
                self.settled.popleft()()
            if not self.ready:
                return
            if len(self.ready) == 1 and self.running == 0 and self.runner.inline_ok(self.ready[0][3], True):
                if self.on_idle is not None and self.quick.get(self.ready[0][3].name, INLINE_SECONDS) >= INLINE_SECONDS:
                    self.on_idle()  # a task that may take a while holds the scheduler: as good as waiting
                self.run_inline(*self.ready.pop())
                continue
            progressed = False
            batch, self.ready = self.ready, []
            for i, item in enumerate(batch):
                template = item[3]
                est = self.quick.get(template.name)
                if est is None and len(batch) - i > self.max_workers:
                    est = _DURATIONS.get((template.name, template.code_digest))
                if est is not None and est < INLINE_SECONDS and self.runner.inline_ok(template, False):
                    self.run_inline(*item)
                    progressed = True
                elif self.running < self.max_workers:
                    node, block, key, _, inputs, known = item
                    self.running += 1
                    self.inflight[key] = node.task
                    fut = self.pool.submit(self.attempts, template, inputs, key, known)
                    fut.add_done_callback(functools.partial(self._completed, node, block, key, template, inputs))
                else:  # the pool is full: the rest waits for the next completion (no rescans)
                    self.ready = batch[i:] + self.ready
                    break
            if not progressed:
                return

    def run_inline(
        self,
        node: ir.TaskNode,
        block: _TaskScope,
        key: str,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        known: CacheProbe | None = None,
    ) -> None:
        result, attempt = self._attempt_here(template, inputs, key, known)
        if isinstance(result, TaskError) and self._retry_later(
            node, block, key, template, inputs, known, result, attempt
        ):
            return
        self.task_result(node, block, key, inputs, result, attempt)

    def _attempt_here(
        self, template: ir.TaskTemplate, inputs: dict[str, Any], key: str, known: CacheProbe | None
    ) -> tuple[Outcome | TaskError, int]:
        """A first attempt on the scheduler's thread."""
        stop = self.stop
        stop.inline = True  # a stop that gives up waiting interrupts it (see .stopping)
        try:
            return self.attempts(template, inputs, key, known, inline=True)
        except Abandon:
            self.inflight[key] = template.name
            raise
        except BaseException as exc:  # the runner itself broke: report, never hang
            return TaskError(type(exc).__name__, str(exc)), 1
        finally:
            stop.inline = False

    def _retry_later(
        self,
        node: ir.TaskNode,
        block: _TaskScope,
        key: str,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        known: CacheProbe | None,
        err: TaskError,
        attempt: int,
    ) -> bool:
        """Whether the task's policy retries ``err``; if so, the backoff and the next attempts go to the
        pool (they must not hold the scheduler)."""
        if not self._retries(template, err, attempt) or self.stop.signum is not None:
            return False
        if self.live:
            self.progress(_retry_report(template, key, err, attempt))
        self.running += 1
        self.inflight[key] = node.task
        fut = self.pool.submit(self.attempts, template, inputs, key, known, after=attempt)
        fut.add_done_callback(functools.partial(self._completed, node, block, key, template, inputs))
        return True

    def _completed(
        self,
        node: ir.TaskNode,
        block: _TaskScope,
        key: str,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        f: Future[tuple[Outcome | TaskError, int]],
    ) -> None:
        self.events.put(lambda: self.task_done(node, block, key, template, inputs, f))

    @staticmethod
    def _retries(template: ir.TaskTemplate, err: TaskError, attempt: int) -> bool:
        return attempt < template.retry.attempts and retryable(template.retry, err)

    def attempts(
        self,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        key: str,
        known: CacheProbe | None = None,
        *,
        inline: bool = False,
        after: int = 0,
        use_cache: bool | None = None,
    ) -> tuple[Outcome | TaskError, int]:
        """Run a task with its retry policy (in a worker thread). ``inline``: on the scheduler thread,
        so return after the first attempt rather than sleep before a retry; ``after``: the attempts
        already made (the backoff after the last of them comes first)."""
        policy = template.retry
        attempt = after
        cache = self.use_cache if use_cache is None else use_cache
        if after:
            self.clock.sleep(delay(policy, after, self.clock))
        run_id, workflow, digest = self.run_id, self.doc.workflow.name, self.doc.digest
        while True:
            attempt += 1
            begun = time.time_ns()  # formatted only if the attempt fails (a success carries its own)
            try:
                # The RunContext's fields: it is made only if the task asks for it (current_run()).
                return self.runner.run(
                    template, inputs, cache, (run_id, workflow, key, attempt, digest, "local"), known
                ), attempt
            except TaskError as err:
                err.started_at = err.started_at or at_ns(begun)
                if inline or not self._retries(template, err, attempt) or self.stop.signum is not None:
                    return err, attempt
                if self.live:  # reported from the scheduler's thread, in order with the rest
                    self.events.put(functools.partial(self.progress, _retry_report(template, key, err, attempt)))
                self.clock.sleep(delay(policy, attempt, self.clock))

    def task_done(
        self,
        node: ir.TaskNode,
        block: _TaskScope,
        key: str,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        f: Future[tuple[Outcome | TaskError, int]],
    ) -> None:
        self.running -= 1
        self.inflight.pop(key, None)
        try:
            result, attempts = f.result()
        except BaseException as exc:  # the runner itself broke: report, never hang
            result, attempts = TaskError(type(exc).__name__, str(exc)), 1
        self.task_result(node, block, key, inputs, result, attempts)

    def task_result(
        self,
        node: ir.TaskNode,
        block: _TaskScope,
        key: str,
        inputs: dict[str, Any],
        result: Outcome | TaskError,
        attempts: int,
    ) -> None:
        if isinstance(result, TaskError):
            if self.stop.signum is not None:  # e.g. its worker process was killed: it runs again on resume
                self.inflight[key] = node.task
                return
            self.report(
                NodeReport(
                    key,
                    node.id,
                    node.task,
                    FAILED,
                    attempts=attempts,
                    started_at=result.started_at,
                    ended_at=utcnow(),
                    error_type=result.error_type,
                    message=result.message,
                    traceback=result.traceback,
                    inputs=inputs,
                )
            )
            block.finish(node.id, False)
            return
        block.env.values[node.id] = result.outputs
        self.succeeded(node, key, inputs, result, attempts)
        block.finish(node.id, True)

    def succeeded(self, node: ir.TaskNode, key: str, inputs: dict[str, Any], result: Outcome, attempts: int) -> None:
        """What a task's success (or cache hit) leaves: its timing, its journal line and its report."""
        if result.status != "cached":
            prev = self.quick.get(node.task)
            self.quick[node.task] = result.duration if prev is None else 0.8 * prev + 0.2 * result.duration
        status = CACHED if result.status == "cached" else SUCCEEDED
        if self.journal is not None:
            self.journal.record(key, result.outputs, status, result.outputs_json)
        self.report(
            NodeReport(
                key,
                node.id,
                node.task,
                status,
                attempts=attempts,
                duration=result.duration,
                started_at=result.started_at,
                ended_at=result.ended_at,
                cache_key=result.cache_key,
                inputs=inputs,
                outputs=result.outputs,
                input_digests=result.input_digests,
            )
        )


def _nothing() -> None:
    pass


def _retry_report(template: ir.TaskTemplate, key: str, err: TaskError, attempt: int) -> NodeReport:
    """A progress event: attempt ``attempt`` of a task failed and it will be tried again."""
    return NodeReport(
        key,
        key.rpartition("/")[2],
        template.name,
        "retry",
        attempts=attempt,
        error_type=err.error_type,
        message=err.message,
        items=template.retry.attempts,
    )


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
