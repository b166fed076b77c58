"""IR → ASL: builds the state graph of a workflow, validates it, renders canonical JSON.

State data layout: ``in`` holds the workflow inputs; each task's outputs object sits under its own
key (``n_<node>``); a Parallel state gathers its branches' new keys under ``p<n>.b<i>``; a ``when``
gathers every node of every branch under ``c_<node>`` (null for the branches that did not run); a
Map item sees its element (``i_<map>``), index (``x_<map>``) and the outer values its body reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from typedflow import ir
from typedflow.ir.codec import converter as ir_converter
from typedflow.util.prettyjson import indented, pretty

from . import distmap, limits, mapio
from .analysis import (
    ELEMENTWISE,
    WHOLE,
    ChoiceRef,
    ConstRef,
    Ctx,
    Outlined,
    Par,
    Plan,
    Ref,
    Requirement,
    Seq,
    WorkflowRefs,
    block_refs,
    chains_read,
    decompose,
    requirements,
    workflow_refs,
)
from .analysis import leaves as leaves_of
from .conditions import alternatives, both, rule
from .executors import Call, emit, route
from .failures import naming
from .graph import DefinitionError, Fragment, Graph, Names, connect, sequence
from .options import Options
from .outline import Sizes, outline, past_limits
from .paths import RUN_KEY, RUN_ROOT, Frame, Loc, Path, concrete, jp, lazy, obj, slot_key
from .protocol import (
    CAUSE_LIMIT,
    DEFINITION_LIMIT,
    DISTRIBUTED_CONCURRENCY,
    ERROR_KEY,
    FAILED_NODE,
    HISTORY_LIMIT,
    INPUTS_KEY,
    MARK,
    ON_FAILURE_ERROR_KEY,
    PAYLOAD_LIMIT,
    PROTOCOL_VERSION,
)
from .s3store import stored_url
from .states import ALL_ERRORS, JSON, Catcher, State
from .states.choice import ChoiceState
from .states.fail import FailState
from .states.map import MapState
from .states.parallel import ParallelState
from .states.pass_ import PassState
from .states.task import TaskState

START_CHILD = "arn:aws:states:::states:startExecution.sync:2"
_ARN_PART = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Id, ':'), {})"
CHILD_ERROR_KEY = "err_child"
_LEAST_BUDGET = 6


def compile_definition(doc: ir.WorkflowIR, opts: Options) -> JSON:
    """The ASL definition of ``doc`` as a JSON object (validated; limits checked), when it fits in one state
    machine; else a DefinitionError naming how many it takes (see :func:`compile_machines`)."""
    machines = compile_machines(doc, opts)
    if len(machines) > 1:
        raise DefinitionError(
            [
                f"workflow {doc.workflow.name!r} compiles to {len(machines)} state machines (a parent and child "
                "state machines it starts): write them to a directory (compile -o DIR) or deploy them"
            ]
        )
    return machines[0][1]


def compile_machines(doc: ir.WorkflowIR, opts: Options) -> list[tuple[str, JSON]]:
    """The state machines of ``doc``, the one to start first: [(name, definition)] (see :func:`measured`)."""
    return [(name, m.definition) for name, m in measured(doc, opts)]


def compile_texts(doc: ir.WorkflowIR, opts: Options) -> list[tuple[str, str]]:
    """The state machines of ``doc`` as the files ``compile -o DIR`` writes: [(name, text)]."""
    return [(name, indented(m.text, m.definition) + "\n") for name, m in measured(doc, opts)]


def measured(doc: ir.WorkflowIR, opts: Options) -> list[tuple[str, limits.Measure]]:
    """The state machines of ``doc``, the one to start first: [(name, definition)]. One, unless it exceeds
    Step Functions' limits (1,048,576 bytes, 25,000 history events for ``opts.map_size`` items per map) or
    ``opts.max_states``; then parts run as child state machines, each within them. Each definition is
    validated; the split is chosen by estimate and then measured, tighter until every machine fits."""
    doc = constant_files(doc, opts)
    base = machine_name(doc, opts.name)
    # A workflow whose task states alone are over the limits is not compiled whole first (that takes as long
    # as compiling its parts): its split is chosen from an estimate of the whole.
    plan = decompose(doc.workflow.nodes)  # made once for every compile below, as are the references
    refs = workflow_refs(doc)
    estimate = past_limits(doc, opts, plan)
    single = None if estimate else limits.measure(_Compiler(doc, opts, None, base, plan, refs).compile(), opts)
    if single is not None and limits.fits(single, opts):
        limits.check(single, opts)
        return [(base, single)]
    whole = estimate or single
    assert whole is not None
    # room for a child's own states (its outputs, its failure) besides its part of the work
    budget = (opts.max_states or limits.states_budget(whole.states, whole.bytes, whole.events)) - 3
    while True:
        c = _Compiler(doc, opts, budget, base, plan, refs)
        root = c.compile()
        machines = [(name, limits.measure(d, opts)) for name, d in [(base, root), *c.children]]
        fit = all(limits.fits(m, opts) for _, m in machines)
        if fit or budget <= _LEAST_BUDGET:
            if opts.max_states is None and len(machines) > 1 and not fit:
                single = single or limits.measure(_Compiler(doc, opts, None, base, plan, refs).compile(), opts)
                if single.bytes <= DEFINITION_LIMIT:
                    # only the history of maps is over, which no split changes: one machine, and a warning
                    limits.check(single, opts)
                    return [(base, single)]
            # (a part that cannot be split, such as a map_over body, may stay over --max-states)
            for name, m in machines:
                limits.check(m, opts, name)
            return machines
        budget = max(_LEAST_BUDGET, budget * 2 // 3)


def machine_name(doc: ir.WorkflowIR, name: str | None = None) -> str:
    """A valid state machine name (letters, digits, - and _; at most 80 characters)."""
    raw = name or doc.workflow.name
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:80]
    if not clean:
        raise DefinitionError([f"state machine name {raw!r} is empty once cleaned"])
    return clean


def constant_files(doc: ir.WorkflowIR, opts: Options) -> ir.WorkflowIR:
    """``doc`` with each file a workflow body writes as a constant named by where its content is in the
    store (deploy uploads it there); the IR recorded its digest when the workflow was defined."""
    from typedflow.dsl.constfiles import local_path
    from typedflow.runtime.inputs import map_constant_files

    problems: list[str] = []

    def place(v: dict[str, Any], t: ir.TypeRef, where: str) -> dict[str, Any]:
        sha = v.get("sha256")
        if local_path(v) is None:
            return v
        if sha is None:
            problems.append(f"{where}: the constant {t.kind} {v['uri']} did not exist when the workflow was defined")
        elif not opts.bucket:
            problems.append(f"{where}: a constant {t.kind} needs --bucket (deploy uploads it to the store)")
        else:
            return {**v, "uri": stored_url(opts.bucket, sha, t.kind == "directory")}
        return v

    out = map_constant_files(doc, place)
    if problems:
        raise DefinitionError(problems)
    return out


def render(definition: JSON) -> str:
    """Canonical text: sorted keys, two-space indent, trailing newline (byte-identical per input)."""
    return pretty(definition) + "\n"


def _format_template(template: str) -> str:
    """Escape a node-key template for States.Format, keeping its ``{}`` placeholders."""

    def esc(text: str) -> str:
        for ch in ("\\", "'", "{", "}"):
            text = text.replace(ch, "\\" + ch)
        return text

    return "{}".join(esc(part) for part in template.split("{}"))


_NO_CACHE = ir.NodeOptions(cache=False)


class _Compiler:
    def __init__(
        self,
        doc: ir.WorkflowIR,
        opts: Options,
        budget: int | None = None,
        base: str = "",
        plan: Plan | None = None,
        refs: WorkflowRefs | None = None,
    ) -> None:
        self.doc = doc
        self.top = plan  # the workflow's plan, when made already
        self.opts = opts
        self.budget = budget  # most states a state machine may hold; None: one machine for everything
        self.base = base or doc.workflow.name  # the state machine's name; children are base-1, base-2 ...
        self.sizes = Sizes(doc, opts)
        self.children: list[tuple[str, JSON]] = []
        self.readers: dict[str, int] = {}  # node key -> how many references read it (when splitting)
        self.refs = refs or workflow_refs(doc)
        self.req = requirements(self.refs)
        self.chains = chains_read(self.refs)  # when chains that record which branch ran, for one_of()
        self.kept = _kept_inline(self.req)
        self.names = Names()
        self.parallels = 0
        self.caught: set[str] = set()  # states that already catch every error themselves
        self.root: Graph | None = None
        self.root_failure = ""  # the first state of the run's failure path

    # ------------------------------------------------------------------ workflow
    def compile(self) -> JSON:
        wf = self.doc.workflow
        root = Graph(self.names)
        ctx = Ctx(self.doc, wf)
        frame = Frame()
        init = root.add(
            PassState(
                root.name("inputs"),
                parameters={f"{INPUTS_KEY}.$": "$"},
                comment="the workflow inputs, under their own key",
            )
        )
        # The failure path first: a sub-workflow's own handler at the top level goes on to it.
        self.root, self.root_failure = root, self.failure_path(root, ctx)
        root.failure = self.root_failure
        if self.budget is not None:
            self.readers = _readers(self.refs)
        body = self.block(wf.nodes, ctx, frame, root, self.top)
        self.catch_all(root)
        outputs = PassState(
            self.names.unique("outputs"),
            comment="the workflow outputs (lazy typed JSON)",
            parameters=obj({a.param: lazy(ctx.resolve(a.value, a.optional), frame, self.req) for a in wf.results}),
        )
        chain = connect(init, body) if body else init
        definition = root.render(chain, outputs)
        definition["Comment"] = f"typedflow workflow {wf.name} ({self.doc.digest})"
        return definition

    def failure_path(self, root: Graph, ctx: Ctx) -> str:
        fail = FailState(
            self.names.unique("failed"),
            error_path=f"$.{ERROR_KEY}.Error",
            cause_path=f"$.{ERROR_KEY}.Cause",
            comment="the first error of the run",
        )
        of = self.doc.workflow.on_failure
        fail_frag = root.add(fail)
        if of is None:
            return fail_frag.start
        return self.handler(of, ctx, Frame(), root, fail_frag.start)

    def catch_all(self, graph: Graph) -> None:
        """Every Task/Parallel/Map of ``graph`` not yet catching its errors goes to its failure path."""
        assert graph.failure is not None
        for s in graph.states.values():
            if isinstance(s, TaskState | ParallelState | MapState) and s.name not in self.caught:
                s.catch.append(Catcher((ALL_ERRORS,), graph.failure, "$." + ERROR_KEY))

    def onward(self, graph: Graph, key: str, comment: str) -> str:
        """Where a caught failure goes on to (the error at ``$.err``): the graph's failure path, else a
        Fail state that fails the graph (a branch or map item) with that error, for what encloses it."""
        if graph.failure is not None:
            return graph.failure
        fail = FailState(
            self.names.unique(f"{key} failed"),
            error_path=f"$.{ERROR_KEY}.Error",
            cause_path=f"$.{ERROR_KEY}.Cause",
            comment=comment,
        )
        return graph.add(fail).start

    # ------------------------------------------------------------------ blocks
    def block(
        self, nodes: tuple[ir.Node, ...], ctx: Ctx, frame: Frame, graph: Graph, plan: Plan | None = None
    ) -> Fragment | None:
        if plan is None:
            plan = decompose(nodes)
        if plan is None:
            return None
        if self.budget is not None and not ctx.maps and self.sizes.plan(plan, ctx) > self.budget:
            plan = outline(plan, ctx, self.budget, self.sizes)
        return self.plan(plan, ctx, frame, graph)

    def plan(self, p: Plan, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment | None:
        if isinstance(p, Outlined):
            return self.child(p.plan, ctx, frame, graph)
        if isinstance(p, Seq):
            return sequence([f for f in (self.plan(x, ctx, frame, graph) for x in p.parts) if f is not None])
        if isinstance(p, Par):
            return self.parallel(p, ctx, frame, graph)
        if isinstance(p, ir.TaskNode):
            return self.task(p, ctx, frame, graph)
        if isinstance(p, ir.ConditionalNode):
            return self.conditional(p, ctx, frame, graph)
        if isinstance(p, ir.MapNode):
            return self.map(p, ctx, frame, graph)
        if isinstance(p, ir.FailNode):
            return self.fail(p, ctx, frame, graph)
        if isinstance(p, ir.ExitHandlerNode):
            return self.exit_block(p, ctx, frame, graph)
        sub = ctx.sub(p)
        if sub.wf.on_failure is not None:
            return self.guarded(p, sub, frame, graph)
        return self.block(sub.wf.nodes, sub, frame, graph)

    def fail(self, node: ir.FailNode, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        """``fail(message)``: at the top level the run's failure path (its on_failure runs), inside a
        branch, map item or guarded block a Fail state, which what encloses it catches. Its cause ends with
        the line naming the node (see :mod:`.failures`), so a handler gets the node's key, as locally."""
        key = ctx.key(node.id)
        if ctx.maps:
            return self.fail_in_item(node, ctx, frame, graph)
        cause = naming(node.message, key)
        if graph.failure is not None:
            error = {"Error": ir.FAIL_ERROR, "Cause": cause}
            state = PassState(graph.name(key), result=error, result_path="$." + ERROR_KEY, comment="fail(...)")
            state.next = graph.failure
            graph.add(state)
            return Fragment(state.name, [])
        return graph.add(FailState(graph.name(key), error=ir.FAIL_ERROR, cause=cause, comment="fail(...)"))

    def fail_in_item(self, node: ir.FailNode, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        """``fail(message)`` in a map item, whose key holds indices known only at run time: a Pass keeps the
        message, a second one appends the line naming the node with States.Format (the message is an argument,
        never part of the format string, whose escapes the engines read differently), then on as a caught
        failure."""
        key = ctx.key(node.id)
        named = FAILED_NODE.format(ctx.template + node.id)  # one {} per enclosing map
        message = node.message[: CAUSE_LIMIT - len(named) - 1 - 10 * len(ctx.maps)]
        indices = ", ".join(frame.indices[m] for m in ctx.maps)
        err = "$." + ERROR_KEY
        keep = PassState(
            graph.name(key),
            result={"Error": ir.FAIL_ERROR, "Cause": message + "\n"},
            result_path=err,
            comment="fail(...)",
        )
        name = PassState(
            graph.name(f"{key} (node)"),
            parameters={
                "Error": ir.FAIL_ERROR,
                "Cause.$": f"States.Format('{{}}{_format_template(named)}', {err}.Cause, {indices})",
            },
            result_path=err,
            comment="the cause names the failed node, with the item's index",
        )
        keep.next = name.name
        name.next = self.onward(graph, key, "fail(...) in a map item")
        graph.add(keep)
        graph.add(name)
        return Fragment(keep.name, [])

    def guarded(self, node: ir.SubWorkflowNode, sub: Ctx, frame: Frame, graph: Graph) -> Fragment:
        """A sub-workflow with its own ``on_failure``: its states in a one-branch Parallel whose Catch runs
        the handler and then fails on with the same error, so what encloses it (the caller's handler, a
        Map, the run) sees the failure as if there were no handler."""
        of = sub.wf.on_failure
        assert of is not None
        key = sub.prefix.rstrip("/")
        frag, placed = self.caught_block(
            sub.wf.nodes,
            sub,
            frame,
            graph,
            key=key,
            title=f"{key} (on_failure {of.task})",
            comment=f"sub-workflow {sub.wf.name}, whose on_failure runs {of.task}",
            handler=of,
            why="on, with the error the sub-workflow failed with",
        )
        frame.nodes.update(placed)
        return frag

    def caught_block(
        self,
        nodes: tuple[ir.Node, ...],
        ctx: Ctx,
        frame: Frame,
        graph: Graph,
        *,
        key: str,
        title: str,
        comment: str,
        handler: ir.OnFailure,
        why: str,
        name: str = "on_failure",
    ) -> tuple[Fragment, dict[str, Loc]]:
        """``nodes`` in a one-branch Parallel whose Catch runs ``handler`` and then fails on with the same
        error: its fragment, and where the nodes it ran leave their outputs."""
        self.parallels += 1
        slot = f"p{self.parallels}"
        g = Graph(self.names)
        f = frame.copy()
        body = self.block(nodes, ctx, f, g)
        new = f.added(frame)
        collect = PassState(
            self.names.unique(f"{key} done"),
            parameters=obj({slot_key("", k): Path(loc.path) for k, loc in new.items()}),
        )
        state = ParallelState(
            graph.name(title),
            branches=[g.render(body, collect)],
            result_path="$." + slot,
            result_selector={"b0.$": "$[0]"},
            comment=comment,
        )
        frag = graph.add(state)
        onward = self.onward(graph, key, why)
        caught = self.handler(handler, ctx, frame.copy(), graph, onward, name=name)
        state.catch.append(Catcher((ALL_ERRORS,), caught, "$." + ERROR_KEY))
        self.caught.add(state.name)
        return frag, {k: Loc(jp("$." + slot, "b0", slot_key("", k)), loc.nullable) for k, loc in new.items()}

    def handler(
        self, of: ir.OnFailure, ctx: Ctx, frame: Frame, graph: Graph, then: str, name: str = "on_failure"
    ) -> str:
        """The states of a handler task run after a failure (its own Retry; never cached), going on to
        ``then`` whether it succeeds or fails; the name of its first state."""
        frame.failure = "$." + ERROR_KEY
        frag, states = self.handler_task(of, ctx, frame, graph, f"{name}/{of.task}")
        for s in states:  # the handler keeps its own Retry, as on every target
            s.catch = [Catcher((ALL_ERRORS,), then, "$." + ON_FAILURE_ERROR_KEY)]
            self.caught.add(s.name)
        connect(frag, Fragment(then, []))
        return frag.start

    def handler_task(
        self, of: ir.OnFailure, ctx: Ctx, frame: Frame, graph: Graph, node: str
    ) -> tuple[Fragment, list[TaskState]]:
        """The task states of a handler as node ``node`` (``frame.failure`` None: its Failure is null)."""
        template = self.doc.task(of.task)
        args = obj({a.param: lazy(ctx.resolve(a.value, a.optional), frame, self.req) for a in of.args})
        key = ctx.key(node)
        job_key: Any = ctx.template + node
        if ctx.maps:
            indices = ", ".join(frame.indices[m] for m in ctx.maps)
            job_key = Path(f"States.Format('{_format_template(job_key)}', {indices})")
        request = self.request(template, args, job_key, (), (), frame.run)
        request["options"] = ir_converter.unstructure(_NO_CACHE)  # every run is handled anew, as on every target
        call = Call(self.names.unique(key), template, request, slot_key("n_", key), job_key)
        frag, _, states = emit(call, self.opts.executor_of(template.name), self.opts, graph)
        return frag, states

    def exit_block(self, node: ir.ExitHandlerNode, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        """``with exit_handler(...)``: the body in a one-branch Parallel; on success the handler runs (its
        Failure null) and the run goes on, on failure the Catch runs it (with the failure) and fails on."""
        key = ctx.key(node.id)
        frag, placed = self.caught_block(
            node.body,
            ctx,
            frame,
            graph,
            key=key,
            title=f"{key} (exit_handler {node.handler.task})",
            comment=f"then {node.handler.task}, whether it succeeded or failed",
            handler=node.handler,
            why="on, with the error the block failed with",
            name=node.id,
        )
        ok_frame = frame.copy()
        ok_frame.failure = None
        after_ok, _ = self.handler_task(node.handler, ctx, ok_frame, graph, f"{node.id}/{node.handler.task}")
        frame.nodes.update(placed)
        return connect(frag, after_ok)

    def child(self, p: Plan, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        """``p`` as a child state machine of its own, started here with ``startExecution.sync:2``: it gets the
        workflow inputs, the run id and the values it reads; it gives back the outputs of the nodes it ran. Its
        failure fails it with the same error, which this state takes out of the child's description and treats
        as any failure here."""
        name = child_name(self.base, len(self.children) + 1)
        self.children.append((name, {}))
        index = len(self.children) - 1
        leaves = _plan_nodes(p)
        refs = [r for n in leaves for _, r, _ in block_refs((n,), ctx)]
        passed: dict[str, Any] = {INPUTS_KEY: Path(frame.inputs), RUN_KEY: Path(frame.run)}
        passed["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] = Path("$$.Execution.Id")
        inner = Frame(inputs="$." + INPUTS_KEY, run="$." + RUN_KEY, failure=frame.failure)
        for leaf in (x for r in refs for x in leaves_of(r)):
            if leaf.kind == "node" and leaf.key in frame.nodes and leaf.key not in inner.nodes:
                slot = slot_key("n_", leaf.key)
                passed[slot] = Path(frame.nodes[leaf.key].path)
                inner.nodes[leaf.key] = Loc("$." + slot, frame.nodes[leaf.key].nullable)
        given = set(inner.nodes)
        g = Graph(self.names)
        body = self.plan(p, ctx, inner, g)
        inside: dict[str, int] = {}
        for r in refs:
            for x in leaves_of(r):
                if x.kind == "node":
                    inside[x.key] = inside.get(x.key, 0) + 1
        # what it made that something outside it reads (later: references only go forward)
        made = {
            k: loc for k, loc in inner.nodes.items() if k not in given and self.readers.get(k, 0) > inside.get(k, 0)
        }
        out = PassState(
            self.names.unique(f"{name} outputs"),
            parameters=obj({slot_key("", k): Path(loc.path) for k, loc in made.items()}),
            comment="the outputs of the nodes this state machine ran",
        )
        failed = FailState(
            self.names.unique(f"{name} failed"),
            error_path=f"$.{ERROR_KEY}.Error",
            cause_path=f"$.{ERROR_KEY}.Cause",
            comment="fails with the error of the node that failed; the state machine that started it goes on",
        )
        failing = [
            s
            for s in g.states.values()
            if isinstance(s, TaskState | ParallelState | MapState) and s.name not in self.caught
        ]
        for s in failing:
            s.catch.append(Catcher((ALL_ERRORS,), failed.name, "$." + ERROR_KEY))
            self.caught.add(s.name)
        if failing:
            g.add(failed)
        definition = g.render(body, out)
        definition["Comment"] = f"typedflow workflow {self.doc.workflow.name} ({self.doc.digest}), part {index + 1}"
        self.children[index] = (name, definition)
        slot = f"s{index + 1}"
        arn = (
            f"States.Format('arn:{{}}:states:{{}}:{{}}:stateMachine:{name}', "
            + ", ".join(_ARN_PART.format(i) for i in (1, 3, 4))
            + ")"
        )
        start = TaskState(
            graph.name(f"{name} (child)"),
            resource=START_CHILD,
            parameters={"StateMachineArn.$": arn, "Input": obj(passed)},
            result_selector={"o.$": "$.Output"},
            result_path="$." + slot,
            comment=f"state machine {name}: {', '.join(n.id for n in leaves[:5])}{' ...' if len(leaves) > 5 else ''}",
        )
        frag = graph.add(start)
        onward = (
            self.root_failure
            if graph is self.root
            else graph.add(
                FailState(
                    self.names.unique(f"{name} failed on"),
                    error_path=f"$.{ERROR_KEY}.Error",
                    cause_path=f"$.{ERROR_KEY}.Cause",
                )
            ).start
        )
        start.catch.append(Catcher((ALL_ERRORS,), self.unwrap(name, graph, onward), "$." + ERROR_KEY))
        self.caught.add(start.name)
        for k, loc in made.items():
            frame.nodes[k] = Loc(jp("$." + slot, "o", slot_key("", k)), loc.nullable)
        return frag

    def unwrap(self, name: str, graph: Graph, onward: str) -> str:
        """States that replace a failed child's ``States.TaskFailed`` (its cause: the child execution's
        description, as JSON) by the error and cause the child failed with, then go ``onward``. A child that
        failed without a cause (a ``Fail`` state with none, a task failure reported without one) has none in
        its description: its error goes on with an empty cause. One without even an error (stopped, timed
        out) goes on as ``States.TaskFailed``, the description as its cause."""
        described = f"$.{CHILD_ERROR_KEY}.d"
        take = graph.add(
            PassState(
                self.names.unique(f"{name} error"),
                parameters={"Error.$": f"{described}.Error", "Cause.$": f"{described}.Cause"},
                result_path="$." + ERROR_KEY,
            )
        )
        graph.states[take.start].next = onward
        bare = graph.add(
            PassState(
                self.names.unique(f"{name} error without a cause"),
                parameters={"Error.$": f"{described}.Error", "Cause": ""},
                result_path="$." + ERROR_KEY,
            )
        )
        graph.states[bare.start].next = onward
        which = ChoiceState(self.names.unique(f"{name} cause?"), default=onward)
        which.rules.append(
            (
                {
                    "And": [
                        {"Variable": f"{described}.Error", "IsPresent": True},
                        {"Variable": f"{described}.Cause", "IsPresent": True},
                    ]
                },
                take.start,
            )
        )
        which.rules.append(({"Variable": f"{described}.Error", "IsPresent": True}, bare.start))
        graph.add(which)
        parse = graph.add(
            PassState(
                self.names.unique(f"{name} description"),
                parameters={"d.$": f"States.StringToJson($.{ERROR_KEY}.Cause)"},
                result_path="$." + CHILD_ERROR_KEY,
            )
        )
        graph.states[parse.start].next = which.name
        check = ChoiceState(self.names.unique(f"{name} failed?"), default=onward)
        check.rules.append(({"Variable": f"$.{ERROR_KEY}.Error", "StringEquals": "States.TaskFailed"}, parse.start))
        return graph.add(check).start

    def parallel(self, p: Par, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        """Independent groups as the branches of a Parallel. Step Functions stops every branch when one
        fails; when a branch holds an ``exit_handler`` block, that would stop it before its handler ran,
        so there each branch catches its own failure (and ends with it under ``__tf__``), every branch
        finishes, and a Choice after the Parallel fails on with the first failed branch's error."""
        self.parallels += 1
        key = f"p{self.parallels}"
        heads = [_head(part) for part in p.parts]
        name = graph.name(ctx.prefix + "parallel " + " | ".join(heads))
        finish = _holds_exit_handler(_plan_nodes(p), self.doc)
        branches, produced, failing = [], {}, []
        for i, part in enumerate(p.parts):
            g = Graph(self.names)
            if finish:
                failed = PassState(
                    self.names.unique(f"{name} [{i}] failed"),
                    parameters={f"{MARK}.$": "$." + ERROR_KEY},
                    comment="this branch failed: the others finish, then the Parallel fails on",
                )
                g.failure = failed.name
            f = frame.copy()
            body = self.plan(part, ctx, f, g)
            if finish:
                self.catch_all(g)
                if any(failed.name in s.successors() for s in g.states.values()):
                    g.add(failed)
                    failing.append(i)
            new = f.added(frame)
            collect = PassState(
                self.names.unique(f"{name} [{i}] done"),
                parameters=obj({slot_key("", k): Path(loc.path) for k, loc in new.items()}),
            )
            branches.append(g.render(body, collect))
            for k, loc in new.items():
                produced[k] = Loc(jp("$." + key, f"b{i}", slot_key("", k)), loc.nullable)
        state = ParallelState(
            name,
            branches=branches,
            result_path="$." + key,
            result_selector={f"b{i}.$": f"$[{i}]" for i in range(len(p.parts))},
        )
        frame.nodes.update(produced)
        frag = graph.add(state)
        if not failing:
            return frag
        check = ChoiceState(self.names.unique(f"{name} (failed?)"), comment="the first branch that failed, if any")
        onward = self.onward(graph, name, "on, with the error a branch failed with")
        for i in failing:
            error = jp("$." + key, f"b{i}", MARK)
            rethrow = PassState(
                self.names.unique(f"{name} [{i}] failed on"), input_path=error, result_path="$." + ERROR_KEY
            )
            rethrow.next = onward
            graph.add(rethrow)
            check.rules.append(({"Variable": error, "IsPresent": True}, rethrow.name))
        ok = PassState(self.names.unique(f"{name} (ok)"), comment="every branch succeeded")
        check.default = ok.name
        graph.add(check)
        return connect(frag, Fragment(check.name, graph.add(ok).ends))

    # ------------------------------------------------------------------ nodes
    def task(self, node: ir.TaskNode, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        key = ctx.key(node.id)
        template = ir.effective(self.doc.task(node.task), node.options)
        args = obj({a.param: lazy(ctx.resolve(a.value, a.optional), frame, self.req) for a in node.args})
        job_key: Any = ctx.template + node.id
        if ctx.maps:
            indices = ", ".join(frame.indices[m] for m in ctx.maps)
            job_key = Path(f"States.Format('{_format_template(job_key)}', {indices})")
        inline, each = self.kept.get(key, ((), ()))
        request = self.request(template, args, job_key, inline, each, frame.run)
        if node.options is not None:  # the runtime applies the call's own options to the task's template
            request["options"] = ir_converter.unstructure(node.options)
        call = Call(graph.name(key), template, request, slot_key("n_", key), job_key)
        frag, outputs_path, _ = emit(call, self.opts.executor_of(template.name), self.opts, graph)
        frame.nodes[key] = Loc(outputs_path, False)
        return frag

    def request(
        self,
        template: ir.TaskTemplate,
        args: dict[str, Any],
        job_key: Any,
        inline: tuple[str, ...],
        each: tuple[str, ...],
        run: str,
    ) -> dict[str, Any]:
        kind = self.opts.executor_of(template.name)
        req: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "ir": self.doc.digest,
            "task": template.name,
            "run.$": run,
            "args": args,
            "inline": list(inline),
            "elementwise": list(each),
            "offload": self.opts.offload_threshold,
        }
        return route(req, job_key, kind, self.opts)

    def conditional(self, node: ir.ConditionalNode, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        key = ctx.key(node.id)
        ckey = slot_key("c_", key)
        choice = ChoiceState(graph.name(key), comment="when / otherwise")
        frag = graph.add(choice)
        arms = []
        for br in node.branches:
            f = frame.copy()
            body = self.block(br.nodes, ctx, f, graph)
            arms.append((br, body, f.added(frame)))
        every = sorted({k for _, _, new in arms for k in new})
        ends: list[State] = []
        recorded = key in self.chains  # a one_of() reads this chain: the branch that ran is recorded under its key

        def gather(label: str, new: dict[str, Loc], branch: int | None = None) -> Fragment:
            values: dict[str, Any] = {slot_key("", k): (Path(new[k].path) if k in new else None) for k in every}
            if recorded:
                values[slot_key("", key)] = branch
            return graph.add(
                PassState(
                    self.names.unique(f"{choice.name} [{label}] done"), parameters=obj(values), result_path="$." + ckey
                )
            )

        for i, (br, body, new) in enumerate(arms):
            label = "otherwise" if br.condition is None else f"branch {i + 1}"
            if body is not None and not body.ends:  # the branch always fails (fail(...)): nothing to gather
                entry = body
            else:
                g = gather(label, new, i)
                entry = connect(body, g) if body else g
            ends.extend(entry.ends)
            if br.condition is None:
                choice.default = entry.start
            else:
                where = f"{ir.Branch.__name__.lower()} at {br.loc}"
                choice.rules.append((rule(br.condition, ctx, frame, where), entry.start))
        if choice.default is None:
            g = gather("no branch", {})
            choice.default = g.start
            ends.extend(g.ends)
        for k in every:
            frame.nodes[k] = Loc(jp("$." + ckey, slot_key("", k)), True)
        if recorded:
            frame.nodes[key] = Loc(jp("$." + ckey, slot_key("", key)), True)
        return Fragment(frag.start, ends)

    def map(self, node: ir.MapNode, ctx: Ctx, frame: Frame, graph: Graph) -> Fragment:
        key = ctx.key(node.id)
        slot = slot_key("n_", key)
        items = ctx.resolve(node.items.value, node.items.optional)
        before: list[Fragment] = []
        skip: Fragment | None = None
        s3items = node.distributed is True or node.tolerated_failure > 0  # a worker step reads the items
        if s3items and isinstance(items, ConstRef | Ref):
            items_path = ""
        elif isinstance(items, ConstRef):
            staged = slot_key("k_", key)
            before.append(
                graph.add(PassState(graph.name(f"{key} (items)"), result=items.value or [], result_path="$." + staged))
            )
            items_path = "$." + staged
        elif isinstance(items, Ref):
            items_path, nullable = concrete(items, frame)
            if nullable:  # no list (a branch that did not run): no items, like the local interpreter
                guard = ChoiceState(graph.name(f"{key} (items?)"))
                skip = graph.add(
                    PassState(self.names.unique(f"{key} (no items)"), result={"out": []}, result_path="$." + slot)
                )
                missing = {
                    "Or": [
                        {"Not": {"Variable": items_path, "IsPresent": True}},
                        {"Variable": items_path, "IsNull": True},
                    ]
                }
                guard.rules.append((missing, skip.start))
                before.append(graph.add(guard))
        elif isinstance(items, ChoiceRef):  # one_of(): the list of the branch that ran, staged for ItemsPath
            staged = slot_key("k_", key)
            before.append(self._pick_items(key, items, frame, graph, "$." + staged, node.loc))
            items_path = "$." + staged
        else:
            raise DefinitionError([f"map_over at {node.loc}: cannot iterate over a whole NamedTuple"])
        body_ctx = ctx.map_body(node)
        inner = Frame(indices={})
        selector: dict[str, Any] = {
            slot_key("i_", key): Path("$$.Map.Item.Value"),
            slot_key("x_", key): Path("$$.Map.Item.Index"),
        }
        inner.items[key] = Loc("$." + slot_key("i_", key), False)
        inner.indices[key] = "$." + slot_key("x_", key)
        # in a child state machine, or a Distributed Map's child execution: the run id comes with the item
        if frame.run != RUN_ROOT or node.distributed is not False or node.tolerated_failure > 0:
            selector[RUN_KEY] = Path(frame.run)
            inner.run = "$." + RUN_KEY
        for m, path in frame.indices.items():  # node keys of nested tasks need every enclosing index
            selector[slot_key("x_", m)] = Path(path)
            inner.indices[m] = "$." + slot_key("x_", m)
        refs = [r for _, r, _ in block_refs(node.body, body_ctx)] + [body_ctx.resolve(node.result)]
        for leaf in (x for r in refs for x in leaves_of(r)):
            if leaf.kind == "node" and leaf.key in frame.nodes:
                outer = frame.nodes[leaf.key]
                selector[slot_key("n_", leaf.key)] = Path(outer.path)
                inner.nodes[leaf.key] = Loc("$." + slot_key("n_", leaf.key), outer.nullable)
            elif leaf.kind == "item" and leaf.key != key and leaf.key in frame.items:
                selector[slot_key("i_", leaf.key)] = Path(frame.items[leaf.key].path)
                inner.items[leaf.key] = Loc("$." + slot_key("i_", leaf.key), frame.items[leaf.key].nullable)
            elif leaf.kind == "input":
                selector[INPUTS_KEY] = Path(frame.inputs)
        g = Graph(self.names)
        # an item holding an exit_handler block catches its own failure, so that its siblings (and their
        # handlers) run on: Step Functions would stop them all when one item fails
        finish = _holds_exit_handler(node.body, self.doc)
        failed = self._item_failed(key, g) if finish else None
        body = self.block(node.body, body_ctx, inner, g)
        if failed is not None:
            self.catch_all(g)
            if any(failed.name in s.successors() for s in g.states.values()):
                g.add(failed)
            else:
                failed = None  # nothing in the item can fail
        result = PassState(
            self.names.unique(f"{key} (result)"),
            output_path="$.r",
            parameters=obj({"r": lazy(body_ctx.resolve(node.result), inner, self.req)}),
        )
        processor = g.render(body, result)
        outputs = "$." + slot
        if _distributed(node, processor, self.opts):
            # items staged in a Pass (a constant) or kept inline ("auto") are read where they are
            spec = Path(items_path) if items_path and isinstance(items, ConstRef) else lazy(items, frame, self.req)
            whole = any(
                (use == "cond" or use.startswith("items:"))
                and any(x.kind == "item" and x.key == key for x in leaves_of(r))
                for use, r, _ in block_refs(node.body, body_ctx)
            )
            main, outputs = self.distributed_map(
                node, ctx, key, spec, whole, obj(selector), processor, frame, graph, caught=failed is not None
            )
            if skip is not None:  # no items: the same empty list where the results step would put it
                skipped = graph.states[skip.start]
                assert isinstance(skipped, PassState)
                skipped.result_path = outputs
        else:
            state = MapState(
                graph.name(key),
                items_path=items_path,
                item_selector=obj(selector),
                processor=processor,
                max_concurrency=node.max_concurrency,
                result_selector={"out.$": "$", **({f"{_FAILED}.$": f"$[*].{_FAILED_ITEM}"} if failed else {})},
                result_path="$." + slot,
            )
            main = graph.add(state)
            if failed is not None:
                main = connect(main, self._first_failed_item(key, slot, graph))
        frag = sequence([*before, main])
        assert frag is not None
        if skip is not None:  # the guard for missing items goes on to the Map
            guard_state = graph.states[before[-1].start]
            assert isinstance(guard_state, ChoiceState)
            guard_state.default = main.start
            frag = Fragment(frag.start, [*main.ends, *(skip.ends if skip else [])])
        frame.nodes[key] = Loc(outputs, False)
        return frag

    def distributed_map(
        self,
        node: ir.MapNode,
        ctx: Ctx,
        key: str,
        items: Any,
        whole: bool,
        selector: JSON,
        processor: JSON,
        frame: Frame,
        graph: Graph,
        *,
        caught: bool,
    ) -> tuple[Fragment, str]:
        """A Distributed Map (see :mod:`.distmap`): its items to S3, the Map, its results back; the fragment and
        where the results step leaves the map's outputs. ``caught``: each item catches its own failure and ends
        with a failure marker (it holds an exit handler), which the results step counts as a failed item."""
        bucket, prefix = distmap.store_of(node, self.opts)
        job_key: Any = ctx.template + node.id
        if ctx.maps:
            indices = ", ".join(frame.indices[m] for m in ctx.maps)
            job_key = Path(f"States.Format('{_format_template(job_key)}', {indices})")
        common = {"job_key": job_key, "run": frame.run, "doc": self.doc, "opts": self.opts, "graph": graph}
        template = distmap.carrier(node, self.doc)
        stage, staged = distmap.step(
            mapio.ITEMS,
            distmap.items_fields(items, whole, self.opts),
            name=graph.name(f"{key} (items to S3)"),
            result_key=slot_key("d_", key),
            template=template,
            **common,
        )
        written = "$." + slot_key("m_", key)
        state = distmap.map_state(
            graph.name(key),
            node,
            selector=selector,
            processor=processor,
            bucket=bucket,
            prefix=prefix,
            staged=staged,
            result_path=written,
        )
        fields = distmap.results_fields(
            written + ".w", staged, slot_key("x_", key), node, self.kept.get(key, ((), ())), self.opts
        )
        if caught:
            fields["caught"] = _FAILED_ITEM
        collect, outputs = distmap.step(
            mapio.RESULTS,
            fields,
            name=graph.name(f"{key} (results from S3)"),
            result_key=slot_key("n_", key),
            template=template,
            **common,
        )
        frag = sequence([stage, graph.add(state), collect])
        assert frag is not None
        return frag, outputs

    def _pick_items(
        self, key: str, items: ChoiceRef, frame: Frame, graph: Graph, staged: str, loc: ir.SourceLoc | None
    ) -> Fragment:
        """States that copy the list of the option whose branch ran to ``staged``: no items when the chain did
        not run or that option is null (as the local interpreter iterates a missing list)."""
        options = alternatives(items, frame, f"map_over at {loc}")
        picks: list[State] = []
        rules = []
        for i, (when, option) in enumerate(options):
            if option.const and option.value is None:
                continue  # the default: no items
            name = self.names.unique(f"{key} (items {i + 1})")
            if option.const:
                picks.append(PassState(name, result=option.value or [], result_path=staged))
            else:
                picks.append(PassState(name, input_path=option.path, result_path=staged))
            graph.add(picks[-1])
            rules.append((both(when, option.present()), name))
        none = graph.add(PassState(self.names.unique(f"{key} (no items)"), result=[], result_path=staged))
        choice = ChoiceState(graph.name(f"{key} (items)"), comment="the items of the branch that ran")
        choice.rules = rules
        choice.default = none.start
        graph.add(choice)
        return Fragment(choice.name, [*picks, *none.ends])

    def _item_failed(self, key: str, g: Graph) -> PassState:
        """The state a map item that failed ends in (its handlers have run): its result is a failure marker,
        ``{"__tf_failed__": error}``, which the state after the Map finds."""
        failed = PassState(
            self.names.unique(f"{key} (item failed)"),
            parameters={f"{_FAILED_ITEM}.$": "$." + ERROR_KEY},
            comment="this item failed: the others finish, then the map fails on",
        )
        g.failure = failed.name
        return failed

    def _first_failed_item(self, key: str, slot: str, graph: Graph) -> Fragment:
        """After a Map whose items catch their failures: the first failed item's error (in item order) goes
        on as the map's failure; with none, the run goes on."""
        check = ChoiceState(self.names.unique(f"{key} (failed?)"), comment="the first item that failed, if any")
        onward = self.onward(graph, key, "on, with the error an item failed with")
        failed = jp("$." + slot, _FAILED)
        # a list of the errors; a JSONPath reading that unpacks a single match gives the error itself
        for i, (error, test) in enumerate(((failed + "[0]", failed + "[0]"), (failed, jp(failed, "Error")))):
            rethrow = PassState(
                self.names.unique(f"{key} failed on" + (f" #{i + 1}" if i else "")),
                input_path=error,
                result_path="$." + ERROR_KEY,
            )
            rethrow.next = onward
            graph.add(rethrow)
            check.rules.append(({"Variable": test, "IsPresent": True}, rethrow.name))
        ok = PassState(self.names.unique(f"{key} (ok)"), comment="every item succeeded")
        check.default = ok.name
        graph.add(check)
        return Fragment(check.name, graph.add(ok).ends)


# A failed map item's result: {_FAILED_ITEM: its error} (never read by a task: the map then fails on); the
# map's results then carry the list of those errors, in item order, under _FAILED. One key at the top of the
# item, so that ``$[*].__tf_failed__`` is a list of matches under every JSONPath reading (Jayway's, moto's).
_FAILED_ITEM = "__tf_failed__"
_FAILED = "failed"


def _holds_exit_handler(nodes: Sequence[ir.Node], doc: ir.WorkflowIR) -> bool:
    """Whether an ``exit_handler`` block runs in ``nodes`` (nested, or in a sub-workflow they call)."""
    for n in ir.walk(tuple(nodes)):
        if isinstance(n, ir.ExitHandlerNode):
            return True
        if isinstance(n, ir.SubWorkflowNode) and _holds_exit_handler(doc.subworkflow(n.workflow).nodes, doc):
            return True
    return False


def _distributed(node: ir.MapNode, processor: JSON, opts: Options) -> bool:
    """Whether ``node`` compiles to a Distributed Map: asked for, tolerating failed items (only a Distributed Map
    has ``ToleratedFailurePercentage``), or "auto" and ``opts.map_size`` items would take an inline Map past half
    the history quota (each item's states count in the parent's history) or past half the payload quota (its
    items and results are in the state data)."""
    wanted = (
        node.distributed is True
        or node.tolerated_failure > 0
        or (
            node.distributed == "auto"
            and (
                4 + opts.map_size * (2 + limits.estimate_events(processor, opts.map_size)) > HISTORY_LIMIT // 2
                or limits.map_payload(node, opts.map_size) > PAYLOAD_LIMIT // 2
            )
        )
    )
    limit = DISTRIBUTED_CONCURRENCY if wanted else None
    if limit is not None and node.max_concurrency is not None and node.max_concurrency > limit:
        raise DefinitionError(
            [f"map_over at {node.loc}: max_concurrency {node.max_concurrency:,} is over Step Functions' {limit:,}"]
        )
    return wanted


def _kept_inline(req: Requirement) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Node key -> (outputs its task keeps inline whole, outputs it keeps as lists whose elements may be
    offloaded one by one), each sorted: looked up once per task rather than searched."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for (kind, key, output), how in req.items():
        if kind == "node" and how in (WHOLE, ELEMENTWISE):
            found.setdefault(key, ([], []))[how == ELEMENTWISE].append(output)
    return {key: (tuple(sorted(whole)), tuple(sorted(each))) for key, (whole, each) in found.items()}


def _head(p: Plan) -> str:
    while isinstance(p, Seq | Par | Outlined):
        p = p.plan if isinstance(p, Outlined) else p.parts[0]
    return p.id


def _readers(refs: WorkflowRefs) -> dict[str, int]:
    """How many references read each node's outputs, across the workflow and its results."""
    counts: dict[str, int] = {}
    for r in refs.all():
        for x in leaves_of(r):
            if x.kind == "node":
                counts[x.key] = counts.get(x.key, 0) + 1
    return counts


def _plan_nodes(p: Plan) -> list[ir.Node]:
    """The IR nodes of a plan, in order."""
    out: list[ir.Node] = []
    stack: list[Plan] = [p]
    while stack:
        x = stack.pop()
        if isinstance(x, Seq | Par):
            stack.extend(reversed(x.parts))
        elif isinstance(x, Outlined):
            stack.append(x.plan)
        else:
            out.append(x)
    return out


def child_name(base: str, k: int) -> str:
    """The name of child state machine ``k`` of the state machine ``base`` (at most 80 characters)."""
    suffix = f"-{k}"
    return base[: 80 - len(suffix)] + suffix
