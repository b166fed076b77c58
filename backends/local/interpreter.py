"""The local interpreter: runs the IR with real concurrency.

One scheduler thread owns all run state and reacts to completions. Every task (a workflow's, a
branch's, a map item's) takes the same way: :meth:`Interpreter.launch_task` resolves its inputs and
probes the cache, a miss becomes a :class:`ReadyTask`, and :meth:`Interpreter.dispatch` runs it where
the run's :class:`~.placement.Placement` says: on the scheduler's own thread, or on a pool of worker
threads (or worker processes, see :mod:`.isolation`). Its result is settled by
:meth:`Interpreter.settle`, which tells the run's observers and its scope (see :mod:`.scopes`).
"""

from __future__ import annotations

import collections
import functools
import queue
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.errors import RunInterrupted
from typedflow.ir.types import normal_form
from typedflow.runtime.context import RunContext
from typedflow.runtime.execute import CacheProbe, Outcome, TaskError, probe, served_outputs
from typedflow.util.timestamps import at_ns, utcnow

from .bindings import Env, holds, resolve
from .isolation import Runner
from .placement import Placement
from .plan import BlockPlan, plan
from .reports import CACHED, FAILED, RUNNING, SKIPPED, SUCCEEDED, TOLERATED, NodeReport, RunObserver
from .retry import Clock, delay, retryable
from .runfiles import write_log
from .scopes import MAP_WINDOW, MapRun, Scope, TaskScope, block
from .stopping import Abandon, Stop, signal_name

__all__ = ["MAP_WINDOW", "Interpreter", "NodeReport", "ReadyTask", "new_run_id"]


_Attempts = tuple[Outcome | TaskError, int]  # a task's result and how many attempts it took


@attrs.define(slots=True)
class ReadyTask:
    """A task node instance that missed the cache and waits to run."""

    node: ir.TaskNode
    scope: TaskScope
    key: str
    template: ir.TaskTemplate  # with the call's own options
    inputs: dict[str, Any]
    known: CacheProbe | None  # what the cache probe found out (its key), reused when the outputs are stored


_Ended = tuple[ReadyTask, Outcome | TaskError, int]  # a task that ended: its result and attempts, to settle


class Interpreter:
    """Runs one workflow IR once. Use :func:`typedflow.run.run` rather than this directly."""

    def __init__(
        self,
        doc: ir.WorkflowIR,
        *,
        runner: Runner,
        placement: Placement,
        max_workers: int,
        use_cache: bool,
        clock: Clock,
        resumed: dict[str, dict[str, Any]] | None,
        observers: Sequence[RunObserver],
        run_id: str,
        live: bool = False,
        stop: Stop | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.doc = doc
        self.run_dir = run_dir  # where each attempt's output is kept (see .runfiles), if anywhere
        self.runner = runner
        self.placement = placement
        self.use_cache = use_cache
        self.clock = clock
        self.resumed = resumed or {}
        self.observers = tuple(observers)
        # Whether progress events are made (a live view follows the run) or only final reports.
        self.live = live
        self.run_id = run_id
        self.events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.max_workers = max_workers
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="typedflow-task")
        self.reports: dict[str, NodeReport] = {}
        self.failures: list[NodeReport] = []
        self.tasks = {t.name: t for t in doc.tasks}
        self.effective: dict[int, ir.TaskTemplate] = {}  # id(node) -> its template with the call's options
        self.plans: dict[int, BlockPlan] = {}  # id(nodes) -> the block's plan (the doc outlives the run)
        self.ready: list[ReadyTask] = []
        self.running = 0  # tasks on the pool
        # What ended without running (cache hits, resumed nodes, untaken branches, empty maps): finished
        # from the scheduler's loop, never from where it was found, so long chains of them do not nest.
        self.settled: collections.deque[Callable[[], None]] = collections.deque()
        # A stop asked by a signal (see .stopping); what runs on worker threads, by key (-> template).
        self.stop = stop if stop is not None else Stop()
        self.stop.wake = functools.partial(self.events.put, _nothing)
        if self.live:
            self.stop.notify = self._stopping
        self.inflight: dict[str, str] = {}

    # ------------------------------------------------------------------ reporting
    def report(self, *reps: NodeReport) -> None:
        """Final reports, in order; each observer takes them all in a row."""
        for rep in reps:
            self.reports[rep.key] = rep
            if rep.status == FAILED:
                self.failures.append(rep)
        for o in self.observers:
            for rep in reps:
                o.node_finished(rep)

    def progress(self, event: NodeReport) -> None:
        """A progress event; callers make one only when ``self.live``."""
        for o in self.observers:
            o.progress(event)

    def skip_tree(self, node: ir.Node, prefix: str, reason: str) -> None:
        for n in ir.walk((node,)):
            if isinstance(n, ir.TaskNode):
                self.report(NodeReport(prefix + n.id, n.id, n.task, SKIPPED, reason=reason))

    def later(self, fn: Callable[[], None]) -> None:
        self.settled.append(fn)

    def tolerate(self, prefix: str) -> None:
        for rep in self.failures:
            if rep.key.startswith(prefix):
                rep.reason = TOLERATED

    def first_failures(self) -> list[NodeReport]:
        """The failed nodes, those that failed the run (or a block) first, then those a map tolerated."""
        return sorted(self.failures, key=lambda r: r.reason == TOLERATED)

    def plan(self, nodes: tuple[ir.Node, ...]) -> BlockPlan:
        made = self.plans.get(id(nodes))
        if made is None:
            made = self.plans[id(nodes)] = plan(nodes)
        return made

    # ------------------------------------------------------------------ running
    def run(self, inputs: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        wf = self.doc.workflow
        env = Env(inputs)
        result: dict[str, Any] = {}

        def done(ok: bool) -> None:
            result["ok"] = ok

        root = block(self, wf.nodes, env, "", done)
        self.events.put(root.start)
        stop = self.stop
        try:
            events = self.events
            try:
                while "ok" not in result and stop.signum is None:
                    if events.empty():
                        for o in self.observers:
                            o.waiting()
                    events.get()()
                    self.dispatch()
            except Abandon:  # the task running on this thread was abandoned: the run is stopping
                pass
            if "ok" not in result:
                self._wind_down(result)
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
        # a value the workflow returns is in the normal form of the type it declares (an int task output
        # returned as a float is 2.0), as on every cloud target
        declared = {p.name: p.type for p in wf.outputs}
        outputs = (
            {a.param: normal_form(resolve(a.value, env), declared[a.param]) for a in wf.results} if result["ok"] else {}
        )
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

    def launch(self, node: ir.Node, scope: Scope) -> None:
        if isinstance(node, ir.TaskNode):
            self.launch_task(node, scope)
        elif isinstance(node, ir.ConditionalNode):
            self.launch_conditional(node, scope)
        elif isinstance(node, ir.MapNode):
            MapRun(self, node, scope).start()
        elif isinstance(node, ir.FailNode):
            self.launch_fail(node, scope)
        elif isinstance(node, ir.ExitHandlerNode):
            self.launch_exit_handler(node, scope)
        else:
            self.launch_subworkflow(node, scope)

    def launch_exit_handler(self, node: ir.ExitHandlerNode, scope: Scope) -> None:
        inner = {m.id for m in ir.walk(node.body)}

        def done(ok: bool) -> None:
            if self.stop.signum is not None:
                scope.finish(node.id, False)
                return
            failure = None
            if not ok:
                # The block's first failure: a node of the body (at any depth: a map item's `map[3]/...`,
                # a sub-workflow's `inner/...`) by the first part of its key below this scope.
                here = len(scope.key)
                first = next(
                    (
                        r
                        for r in self.failures
                        if r.reason != TOLERATED
                        and r.key.startswith(scope.key)
                        and r.key[here:].split("/", 1)[0].split("[", 1)[0] in inner
                    ),
                    None,
                )
                failure = self.failure_of(first.key if first is not None else scope.key)
            env = Env(scope.env.inputs, scope.env, failure=failure)

            def then(handled: bool) -> None:
                scope.finish(node.id, ok and handled)

            key = f"{scope.key}{node.id}/{node.handler.task}"
            self.launch_handler(node.handler, env, key, node.id, then)

        block(self, node.body, scope.env, scope.key, done).start()

    def launch_fail(self, node: ir.FailNode, scope: Scope) -> None:
        now = utcnow()
        self.report(
            NodeReport(
                scope.key + node.id,
                node.id,
                None,
                FAILED,
                started_at=now,
                ended_at=now,
                error_type=ir.FAIL_ERROR,
                message=node.message,
            )
        )
        self.later(functools.partial(scope.finish, node.id, False))

    def launch_conditional(self, node: ir.ConditionalNode, scope: Scope) -> None:
        chosen: ir.Branch | None = None
        for br in node.branches:
            if br.condition is None or holds(br.condition, scope.env):
                chosen = br
                break
        for br in node.branches:
            if br is not chosen:
                for n in br.nodes:
                    self.skip_tree(n, scope.key, "condition not met")
        if chosen is None:
            self.later(functools.partial(scope.finish, node.id, True))
            return
        block(self, chosen.nodes, scope.env, scope.key, lambda ok: scope.finish(node.id, ok)).start()

    def launch_subworkflow(self, node: ir.SubWorkflowNode, scope: Scope) -> None:
        sub = self.doc.subworkflow(node.workflow)
        inputs = {a.param: resolve(a.value, scope.env) for a in node.args}
        env = Env(inputs, None, {})
        prefix = f"{scope.key}{node.id}/"

        def done(ok: bool) -> None:
            if ok:
                scope.env.values[node.id] = {a.param: resolve(a.value, env) for a in sub.results}
            elif sub.on_failure is not None and self.stop.signum is None:
                # The sub-workflow's own handler runs first; the node then fails as before (and the caller's
                # handler, if any, sees the same failure), as on every target.
                handler_env = Env(inputs, failure=self.failure_of(prefix))
                key = f"{prefix}on_failure/{sub.on_failure.task}"
                self.launch_handler(
                    sub.on_failure, handler_env, key, "on_failure", lambda _: scope.finish(node.id, False)
                )
                return
            scope.finish(node.id, ok)

        block(self, sub.nodes, env, prefix, done).start()

    def failure_of(self, prefix: str = "") -> dict[str, Any]:
        """The ``typedflow.Failure`` of the first failed node under ``prefix`` (the whole run: "")."""
        first = next((r for r in self.failures if r.key.startswith(prefix) and r.reason != TOLERATED), None)
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

        def completed(f: Future[_Attempts]) -> None:
            self.events.put(functools.partial(settle, f))

        def settle(f: Future[_Attempts]) -> None:
            self.running -= 1
            self.inflight.pop(key, None)
            result, attempts = _result(f)
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
        """The report of a handler's run (its failure is reported next to what it handled)."""
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
                handler=True,
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
                handler=True,
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

    # ------------------------------------------------------------------ tasks
    def launch_task(self, node: ir.TaskNode, scope: TaskScope, inputs: dict[str, Any] | None = None) -> None:
        """Start a task node in ``scope``; ``inputs``: its arguments, when the caller resolved them (a map)."""
        key = scope.key + node.id
        if inputs is None:
            env = scope.env
            assert isinstance(env, Env), "a map item's task gets its inputs from the map"
            inputs = {a.param: resolve(a.value, env) for a in node.args}
        template = self.template_of(node)
        prior = self.resumed.get(key)
        # The journal is checked as a cache entry is: a line it holds that does not fit the task runs it again.
        kept = None if prior is None else served_outputs(prior, template, self.runner.store, "journal entry")
        if kept is not None:
            scope.env.values[node.id] = kept
            self.report(NodeReport(key, node.id, node.task, CACHED, inputs=inputs, outputs=kept, reason="resumed"))
            self.later(functools.partial(scope.finish, node.id, True))
            return
        # The cache is looked up here: a hit needs no thread hand-off, and a miss is not looked up again.
        known = probe(template, inputs, self.runner.store, self.use_cache)
        task = ReadyTask(node, scope, key, template, inputs, known)
        if known.hit is not None:
            self.later(functools.partial(self.settle, [(task, known.hit, 0)]))
            return
        if self.live:
            self.progress(NodeReport(key, node.id, node.task, RUNNING, inputs=inputs, started_at=utcnow()))
        self.ready.append(task)

    def dispatch(self) -> None:
        """Settle what ended without running, then start ready tasks where the placement says; at most
        ``max_workers`` tasks are on the pool at once, the rest wait here (so the first completions can
        tell quick templates apart before a thousand map items are queued).

        The tasks of a batch that run on this thread are settled after the batch has run, in order:
        running quick tasks back to back, then settling them back to back, keeps each part's code in
        the CPU's caches (about a tenth of a quick map item's cost). Their placement estimates are
        updated as each ends, so a task that turns out slow sends the rest of the batch to the pool."""
        placement = self.placement
        while (self.ready or self.settled) and self.stop.signum is None:
            while self.settled:
                self.settled.popleft()()
            if not self.ready:
                return
            batch, self.ready = self.ready, []
            alone = len(batch) == 1 and self.running == 0
            ran: list[_Ended] = []
            try:
                for i, task in enumerate(batch):
                    if placement.inline(task.template, alone=alone):
                        if len(ran) == MAP_WINDOW:
                            # Settled first: a run killed before a batch is settled runs it again when
                            # resumed, which is at most a map window also while several maps run.
                            self.ready = batch[i:] + self.ready
                            break
                        if alone and not placement.quick(task.template):
                            for o in self.observers:  # a task that may take a while holds the scheduler
                                o.waiting()
                        ended = self.run_inline(task)
                        if ended is not None:
                            ran.append((task, *ended))
                    elif self.running < self.max_workers:
                        self.submit(task)
                    else:  # the pool is full: the rest waits for the next completion (no rescans)
                        self.ready = batch[i:] + self.ready
                        break
            finally:  # what ran is settled even if the run is being abandoned
                self.settle(ran)
            if not ran:
                return

    def submit(self, task: ReadyTask, after: int = 0) -> None:
        """Hand a task to the pool (``after``: attempts already made, the backoff first)."""
        self.running += 1
        self.inflight[task.key] = task.node.task
        fut = self.pool.submit(self.attempts, task.template, task.inputs, task.key, task.known, after=after)
        fut.add_done_callback(functools.partial(self._completed, task))

    def _completed(self, task: ReadyTask, f: Future[_Attempts]) -> None:
        self.events.put(lambda: self.task_done(task, f))

    def task_done(self, task: ReadyTask, f: Future[_Attempts]) -> None:
        self.running -= 1
        self.inflight.pop(task.key, None)
        result, attempts = _result(f)
        self._timed(task, result)
        self.settle([(task, result, attempts)])

    def _timed(self, task: ReadyTask, result: Outcome | TaskError) -> None:
        if not isinstance(result, TaskError) and result.status != CACHED:
            self.placement.timed(task.template, result.duration)

    def run_inline(self, task: ReadyTask) -> _Attempts | None:
        """A first attempt on the scheduler's thread, to be settled by the caller (None: it failed and is
        retried on the pool: a retry's backoff and later attempts must not hold the scheduler)."""
        stop = self.stop
        stop.inline = True  # a stop that gives up waiting interrupts it (see .stopping)
        try:
            result, attempt = self.attempts(task.template, task.inputs, task.key, task.known, inline=True)
        except Abandon:
            self.inflight[task.key] = task.template.name
            raise
        except BaseException as exc:  # the runner itself broke: report, never hang
            result, attempt = TaskError(type(exc).__name__, str(exc)), 1
        finally:
            stop.inline = False
        if isinstance(result, TaskError) and _retries(task.template, result, attempt) and stop.signum is None:
            if self.live:
                self.progress(_retry_report(task.template, task.key, result, attempt))
            self.submit(task, after=attempt)
            return None
        self._timed(task, result)
        return result, attempt

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
    ) -> _Attempts:
        """Run a task with its retry policy (on a worker thread). ``inline``: on the scheduler thread,
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
                context = RunContext(run_id, workflow, key, attempt, digest, "local")
                log = functools.partial(write_log, self.run_dir, key, attempt) if self.run_dir is not None else None
                return self.runner.run(template, inputs, cache, context, known, log), attempt
            except TaskError as err:
                err.started_at = err.started_at or at_ns(begun)
                if inline or not _retries(template, err, attempt) or self.stop.signum is not None:
                    return err, attempt
                if self.live:  # reported from the scheduler's thread, in order with the rest
                    self.events.put(functools.partial(self.progress, _retry_report(template, key, err, attempt)))
                self.clock.sleep(delay(policy, attempt, self.clock))

    def settle(self, ended: Sequence[_Ended]) -> None:
        """Tasks that ended, in order: their reports to the observers, then their scopes told (each part
        for all of them in a row, see :meth:`dispatch`)."""
        reports: list[NodeReport] = []
        finished: list[tuple[ReadyTask, bool]] = []
        for task, result, attempts in ended:
            node, key = task.node, task.key
            if isinstance(result, TaskError):
                if self.stop.signum is not None:  # e.g. its worker process was killed: it runs again on resume
                    self.inflight[key] = node.task
                    continue
                rep = NodeReport(
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
                    inputs=task.inputs,
                )
                finished.append((task, False))
            else:
                task.scope.env.values[node.id] = result.outputs
                rep = NodeReport(
                    key,
                    node.id,
                    node.task,
                    CACHED if result.status == CACHED else SUCCEEDED,
                    attempts=attempts,
                    duration=result.duration,
                    started_at=result.started_at,
                    ended_at=result.ended_at,
                    cache_key=result.cache_key,
                    inputs=task.inputs,
                    outputs=result.outputs,
                    input_digests=result.input_digests,
                )
                finished.append((task, True))
            reports.append(rep)
        self.report(*reports)
        for task, ok in finished:
            task.scope.finish(task.node.id, ok)


def _nothing() -> None:
    pass


def _result(f: Future[_Attempts]) -> _Attempts:
    try:
        return f.result()
    except BaseException as exc:  # the runner itself broke: report it as the task's failure, never hang
        return TaskError(type(exc).__name__, str(exc)), 1


def _retries(template: ir.TaskTemplate, err: TaskError, attempt: int) -> bool:
    return attempt < template.retry.attempts and retryable(template.retry, err)


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
