"""The DAG builder: typedflow blocks → KFP DAG components.

Every control-flow construct gets its own DAG whose inputs are exactly the values it reads from
outside (``pipelinechannel--...`` inputs): a ``when``/``otherwise`` group becomes a
``condition-branches`` DAG holding one ``condition`` DAG per branch, a ``map_over`` becomes a DAG
holding the ``for-loop`` task, a sub-workflow a DAG of its own. Wiring values only through DAG
inputs is what Vertex needs, and it is also the one shape kfp.local resolves conditions and loop
items from, since kfp.local parses channel names instead of following the task inputs.
"""

from __future__ import annotations

from typing import Any

import attrs

from typedflow import ir
from typedflow.errors import TypedflowError
from typedflow.ir.canonical import canonical_json
from typedflow.ir.types import assignable

from . import cel, guards, item_handlers
from .components import (
    FAILED,
    PRESENT,
    RAN,
    STR,
    Chan,
    Local,
    artifact_lists,
    component,
    executor,
    output_chans,
    placeholder,
    put_input,
    retry_policy,
    task_arg,
    task_payload,
    template_json,
)
from .guards import FLAG, Scope
from .names import Namer, channel, input_channel, sanitize
from .spec import (
    ComponentSpec,
    DagOutputs,
    DagSpec,
    ExecutorSpec,
    InputSpec,
    Iterator,
    IteratorItems,
    TaskInputs,
    TaskSpec,
)
from .typemap import follow_type, is_artifact_list, is_artifact_type, type_json

BOOL = ir.TypeRef("bool")

Source = tuple[str, ...]
"""("input", name) | ("output", node id, output) | ("item", map id); ("output", node id, PRESENT) is
the presence flag of a node inside a ``when`` branch whose values are used outside it."""


# IteratorPolicy.parallelism_limit is an int32 in the PipelineSpec Vertex AI Pipelines reads
# (https://github.com/kubeflow/pipelines/blob/master/api/v2alpha1/pipeline_spec.proto): a larger
# map_over max_concurrency is a spec Vertex rejects. Vertex AI's published limits
# (https://cloud.google.com/vertex-ai/docs/quotas) give no other number for tasks or parallelism that
# could be cited; see docs/vertex.md#limits.
PARALLELISM_LIMIT_MAX = 2**31 - 1


class CompileError(TypedflowError, ValueError):
    """The workflow uses something this target cannot express; names the source line."""


def _at(loc: ir.SourceLoc | None) -> str:
    return f"{loc}: " if loc is not None else ""


class Dag:
    """One DAG being built: its tasks, the inputs it declares and what it needs from outside."""

    def __init__(self, builder: Builder, key: str, parent: Dag | None, *, top: dict[str, Chan] | None = None) -> None:
        self.b = builder
        self.key = key
        self.parent = parent
        self.top = top  # a workflow's own DAG: its inputs by name
        self.tasks: dict[str, TaskSpec] = {}
        self.order: list[str] = []  # task names in the order they were added
        self.inputs: dict[str, Chan] = dict(top or {})
        self.bindings: dict[str, InputSpec] = {}  # channel → its source, resolved in the parent
        self.needs: dict[Source, str] = {}
        self.local: dict[str, Local] = {}
        self.items: dict[str, tuple[str, Chan]] = {}
        self.names = Namer()
        self.outputs: DagOutputs = {}
        self.output_chans: dict[str, Chan] = {}

    def child(self, key: str) -> Dag:
        """A DAG nested in this one (a group, a loop body, a branch, a block)."""
        return Dag(self.b, key, self)

    # ------------------------------------------------------------------ resolving
    def resolve(self, src: Source, loc: ir.SourceLoc | None, *, absent_ok: bool = False) -> tuple[InputSpec, Chan]:
        """How a task in this DAG reads ``src``: a task output here or a DAG input. A value from a
        ``when`` branch that may not have run is refused unless the reader handles its absence."""
        spec, chan = self._resolve(src, loc)
        if chan.maybe and not absent_ok:
            raise CompileError(
                f"{_at(loc)}a value from a `when` branch that may not have run can only be a "
                "task argument or a workflow result on Vertex (not as a condition operand, "
                "map_over items or result, sub-workflow argument or field pass-through; "
                "not supported yet)"
            )
        return spec, chan

    def _resolve(self, src: Source, loc: ir.SourceLoc | None) -> tuple[InputSpec, Chan]:
        kind = src[0]
        if kind == "output" and src[1] in self.local:
            lo = self.local[src[1]]
            if src[2] not in lo.outputs:
                raise CompileError(f"{_at(loc)}node {src[1]!r} has no output {src[2]!r}")
            key, chan = lo.outputs[src[2]]
            if chan.artifact:
                return {"taskOutputArtifact": {"producerTask": lo.task, "outputArtifactKey": key}}, chan
            return {"taskOutputParameter": {"producerTask": lo.task, "outputParameterKey": key}}, chan
        if kind == "input" and self.top is not None:
            if src[1] not in self.top:
                raise CompileError(f"{_at(loc)}unknown workflow input {src[1]!r}")
            return _component_input(src[1], self.top[src[1]]), self.top[src[1]]
        if kind == "item" and src[1] in self.items:
            name, chan = self.items[src[1]]
            return _component_input(name, chan), chan
        if src in self.needs:
            name = self.needs[src]
            return _component_input(name, self.inputs[name]), self.inputs[name]
        if self.parent is None:
            what = {
                "output": f"output {src[2]!r} of {src[1]!r}",
                "input": f"input {src[1]!r}",
                "item": f"the item of {src[1]!r}",
            }[kind]
            raise CompileError(
                f"{_at(loc)}{what} is not visible here (a value produced inside a "
                "`when` branch or a `map_over` body used outside it?)"
            )
        spec, chan = self.parent._resolve(src, loc)
        name = self._channel_name(src)
        self.needs[src] = name
        self.inputs[name] = chan
        self.bindings[name] = spec
        return _component_input(name, chan), chan

    def _channel_name(self, src: Source) -> str:
        if src[0] == "input":
            base = input_channel(src[1])
        elif src[0] == "item":
            base = self.b.item_channels[src[1]]
        elif src[2] == PRESENT:
            base = channel(src[1], "ran")
        elif src[2].startswith(FLAG):  # a failure flag (guards): "!" a task's own, "!k" a block's k-th
            base = channel(src[1], "failed" + (f"-{src[2][1:]}" if src[2] != FLAG else ""))
        else:
            base = channel(src[1], src[2])
        name = base
        n = 1
        while name in self.inputs:
            n += 1
            name = f"{base}-{n}"
        return name

    # ------------------------------------------------------------------ emitting
    def add_task(self, base: str, given: TaskSpec) -> str:
        name = self.names.take(sanitize(base))
        spec: TaskSpec = {"taskInfo": {"name": name}}
        spec.update(given)
        deps = sorted(_producers(spec.get("inputs", {})))
        if deps:
            spec["dependentTasks"] = deps
        self.tasks[name] = spec
        self.order.append(name)
        return name

    def component(self) -> ComponentSpec:
        comp = component(self.inputs, self.output_chans)
        dag: DagSpec = {"tasks": dict(sorted(self.tasks.items()))}
        if self.outputs:
            dag["outputs"] = self.outputs
        comp["dag"] = dag
        return comp

    def export_oneof(self, name: str, selectors: list[tuple[str, str]], chan: Chan) -> None:
        """A parameter output taken from whichever of ``selectors`` (condition tasks) ran."""
        self.output_chans[name] = chan
        self.outputs.setdefault("parameters", {})[name] = {
            "valueFromOneof": {
                "parameterSelectors": [{"producerSubtask": task, "outputParameterKey": key} for task, key in selectors]
            }
        }

    def export(self, name: str, src_task: str, key: str, chan: Chan) -> None:
        """Make a subtask's output an output of this DAG."""
        self.output_chans[name] = chan
        if chan.artifact:
            self.outputs.setdefault("artifacts", {})[name] = {
                "artifactSelectors": [{"producerSubtask": src_task, "outputArtifactKey": key}]
            }
        else:
            self.outputs.setdefault("parameters", {})[name] = {
                "valueFromParameter": {"producerSubtask": src_task, "outputParameterKey": key}
            }


def _component_input(name: str, chan: Chan) -> InputSpec:
    return {"componentInputArtifact": name} if chan.artifact else {"componentInputParameter": name}


def _producers(inputs: TaskInputs) -> set[str]:
    out: set[str] = set()
    for group in (inputs.get("parameters", {}), inputs.get("artifacts", {})):
        for spec in group.values():
            if "taskOutputParameter" in spec:
                out.add(spec["taskOutputParameter"]["producerTask"])
            if "taskOutputArtifact" in spec:
                out.add(spec["taskOutputArtifact"]["producerTask"])
    return out


# ----------------------------------------------------------------------------- escaping values


def escaping(wf: ir.Workflow, outputs: dict[str, tuple[ir.Param, ...]]) -> dict[str, set[tuple[str, str]]]:
    """For each conditional node: the (node, output) pairs computed inside its branches and read
    outside them (those the conditional must surface, present or not)."""
    chains: dict[str, tuple[str, ...]] = {}
    sites: list[tuple[ir.Binding, tuple[str, ...]]] = []

    def visit(nodes: tuple[ir.Node, ...], chain: tuple[str, ...]) -> None:
        for n in nodes:
            chains[n.id] = chain
            if isinstance(n, ir.TaskNode | ir.SubWorkflowNode):
                sites.extend((a.value, chain) for a in n.args)
            elif isinstance(n, ir.MapNode):
                sites.append((n.items.value, chain))
                if isinstance(n.result, ir.RecordOf):
                    sites.extend((a.value, chain) for a in n.result.fields)
                else:
                    sites.append((n.result, chain))
                visit(n.body, chain)
            elif isinstance(n, ir.ConditionalNode):
                for br in n.branches:
                    if br.condition is not None:
                        sites.extend((b, chain) for b in guards.condition_bindings(br.condition))
                    visit(br.nodes, (*chain, n.id))
            elif isinstance(n, ir.ExitHandlerNode):
                sites.extend((a.value, chain) for a in n.handler.args)
                visit(n.body, chain)

    visit(wf.nodes, ())
    sites.extend((a.value, ()) for a in wf.results)
    if wf.on_failure is not None:
        sites.extend((a.value, ()) for a in wf.on_failure.args)
    found: dict[str, set[tuple[str, str]]] = {}
    expanded = [(o, chain) for b, chain in sites for o in (b.options if isinstance(b, ir.OneOf) else (b,))]
    for b, chain in expanded:
        if not isinstance(b, ir.OutputRef) or b.node not in chains:
            continue
        if b.output is not None:
            keys = [b.output]
        elif b.path:
            keys = [b.path[0]]
        else:
            keys = [p.name for p in outputs.get(b.node, ())]
        for cond in chains[b.node]:
            if cond not in chain:
                found.setdefault(cond, set()).update((b.node, k) for k in keys)
    return found


def _with_input(template: ir.TaskTemplate, name: str, like: str) -> ir.TaskTemplate:
    """``template`` with an input ``name`` of the type of its input ``like`` (an option of a one_of)."""
    t = next(p.type for p in template.inputs if p.name == like)
    return attrs.evolve(template, inputs=(*template.inputs, ir.Param(name, t)))


# ----------------------------------------------------------------------------- bindings


@attrs.frozen
class Ref:
    """A binding made explicit: read ``source`` (or every field of a whole record), then ``path``."""

    source: Source | None
    fields: tuple[tuple[str, Source], ...] = ()
    path: tuple[str, ...] = ()
    const: Any = None


@attrs.frozen
class _Template:
    template: ir.TaskTemplate
    text: str  # the canonical JSON of its template_json
    outs: dict[str, Chan]  # its outputs (read only)


class Builder:
    """Compiles one IR document into components, executors and the root DAG."""

    def __init__(self, doc: ir.WorkflowIR, image: str, pipeline_name: str) -> None:
        self.doc = doc
        self.image = image
        self.components: dict[str, ComponentSpec] = {}
        self.executors: dict[str, ExecutorSpec] = {}
        self.comp_names = Namer(reserved=("comp-" + pipeline_name,))
        self.item_channels: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.node_outputs: dict[str, tuple[ir.Param, ...]] = {}
        self.item_types: dict[str, ir.TypeRef] = {}
        self.escaping: dict[str, set[tuple[str, str]]] = {}
        self.lifted: set[str] = set()  # nodes whose values are read outside their `when` branch
        self.wf: ir.Workflow = doc.workflow
        self.templates: dict[tuple[str, ir.NodeOptions | None], _Template] = {}
        self.task_templates: dict[str, ir.TaskTemplate] = {}  # executor label -> the template it runs
        # inside a tolerant map's item: every executor reports its failure and checks its producers' (guards)
        self.scope: Scope | None = None

    def count(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def new_component(self, base: str) -> str:
        return self.comp_names.take("comp-" + sanitize(base))

    # ------------------------------------------------------------------ workflows
    def workflow_dag(self, wf: ir.Workflow, key: str, top: dict[str, Chan]) -> Dag:
        """A workflow's DAG: its nodes and its results as DAG outputs."""
        saved = (self.wf, self.node_outputs, self.item_types, self.escaping, self.lifted)
        self.wf = wf
        self.node_outputs = {n.id: ir.node_outputs(n, self.doc) for n in ir.walk(wf.nodes)}
        self.item_types = {n.id: n.item_type for n in ir.walk(wf.nodes) if isinstance(n, ir.MapNode)}
        self.escaping = escaping(wf, self.node_outputs)
        self.lifted = {node for pairs in self.escaping.values() for node, _ in pairs}
        try:
            dag = Dag(self, key, None, top=top)
            if wf.on_failure is not None and self.scope is None:
                self._with_exit_handler(wf, dag)
            else:
                self.block(wf.nodes, dag)
                self._results(wf, dag)
                if wf.on_failure is not None and self.scope is not None:  # a sub-workflow's in a tolerant item
                    item_handlers.handler_task(self, wf.on_failure, dag, node=None, upstream=list(self.scope.ambient))
        finally:
            self.wf, self.node_outputs, self.item_types, self.escaping, self.lifted = saved
        return dag

    def _results(self, wf: ir.Workflow, inner: Dag) -> None:
        declared = {p.name: p for p in wf.outputs}
        for a in wf.results:
            t = declared[a.param].type
            if a.optional:
                if wf is not self.doc.workflow:
                    raise CompileError(
                        f"{_at(wf.loc)}sub-workflow result {a.param!r} comes from a `when` branch; "
                        "Vertex cannot return a value that may not exist from a sub-workflow "
                        "(not supported yet)"
                    )
                if is_artifact_type(t) or (t.kind == "optional" and is_artifact_type(t.args[0])):
                    raise CompileError(
                        f"{_at(wf.loc)}workflow result {a.param!r} is a file from a `when` branch; "
                        "Vertex cannot return a file that may not exist (not supported yet)"
                    )
                # typed JSON of the value, null when its branch did not run
                src = self.value_task(a.value, t, inner, wf.loc, optional=True)
            else:
                src = self.value_source(a.value, t, inner, local=True, loc=wf.loc)
            lo = inner.local[src[1]]
            key, chan = lo.outputs[src[2]]
            inner.export(a.param, lo.task, key, Chan(t, chan.artifact))

    def _with_exit_handler(self, wf: ir.Workflow, root: Dag) -> None:
        assert wf.on_failure is not None
        key = self.new_component(f"exit-handler-{self.count('exit-handler')}")
        body = Dag(self, key, root)
        self.block(wf.nodes, body)
        self._results(wf, body)
        inputs: TaskInputs = {}
        for name, spec in sorted(body.bindings.items()):
            put_input(inputs, name, spec, body.inputs[name])
        self.components[key] = body.component()
        handler = root.add_task(key[len("comp-") :], {"componentRef": {"name": key}, "inputs": inputs})
        for name, chan in body.output_chans.items():
            root.export(name, handler, name, chan)
        self._on_failure_task(wf.on_failure, root, handler)

    def exit_handler_node(self, n: ir.ExitHandlerNode, dag: Dag) -> None:
        """``with exit_handler(...)``: the body as a DAG of its own, every value it produces an output of it,
        and the handler after it whatever its final status (its Failure None when the body succeeded)."""
        if self.scope is not None:  # no executor fails there: the handler reads the block's failure flags
            item_handlers.exit_handler_in_item(self, n, dag)
            return
        k = self.count("exit-handler")
        key = self.new_component(f"exit-handler-{k}")
        body = Dag(self, key, dag)
        self.block(n.body, body)
        exported: dict[str, dict[str, tuple[str, Chan]]] = {}
        for node_id, lo in sorted(body.local.items()):
            for out, (okey, chan) in sorted(lo.outputs.items()):
                name = channel(node_id, out if out != PRESENT else "ran")
                body.export(name, lo.task, okey, chan)
                exported.setdefault(node_id, {})[out] = (name, chan)
        task = self.nested_task(dag, body, f"exit-handler-{k}", {})
        for node_id, outs in exported.items():
            dag.local[node_id] = Local(task, outs)
        self._on_failure_task(n.handler, dag, task, node=f"{n.id}/{n.handler.task}")

    def _on_failure_task(self, of: ir.OnFailure, root: Dag, handler: str, node: str | None = None) -> None:
        """The handler task after ``handler`` (a DAG task), whatever its final status: an ``on_failure``
        (``node`` None: it runs only when that failed) or an exit handler's (``node``: it always runs)."""
        template = self.doc.task(of.task)
        failure_args = [a for a in of.args if isinstance(a.value, ir.FailureRef)]
        plain = tuple(a for a in of.args if a not in failure_args)
        inputs, chans, plan = self.task_inputs(plain, template, root, of.loc)
        put_input(inputs, "status", {"taskFinalStatus": {"producerTask": handler}}, Chan(ir.TypeRef("any")))
        for a in failure_args:
            plan[a.param] = {"failure": "status", "none_if_succeeded": node is not None}
        key = self.new_component(f"{of.task}-on-failure")
        label = "exec-" + key[len("comp-") :]
        comp = component(chans, {}, label)
        comp.setdefault("inputDefinitions", {}).setdefault("parameters", {})["status"] = {
            "parameterType": "TASK_FINAL_STATUS",
            "isOptional": True,
        }
        self.components[key] = comp
        label_node = node or f"on_failure/{of.task}"
        payload = task_payload(label_node, self.doc.workflow.name, self.doc.digest, plan)
        payload["on_failure"] = node is None
        if artifact_lists(chans):
            payload["lists"] = artifact_lists(chans)
        arg = task_arg(canonical_json(template_json(template)), payload)
        self.executors[label] = executor(template.image or self.image, "task", arg, template.resources)
        self.task_templates[label] = template
        spec: TaskSpec = {
            "componentRef": {"name": key},
            "inputs": inputs,
            "dependentTasks": [handler],
            "triggerPolicy": {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"},
            "cachingOptions": {"enableCache": False},  # every failure is handled anew, as on every target
        }
        retry = retry_policy(template.retry)
        if retry:
            spec["retryPolicy"] = retry
        root.add_task(key[len("comp-") :], spec)

    # ------------------------------------------------------------------ blocks
    def block(self, nodes: tuple[ir.Node, ...], dag: Dag) -> None:
        added: dict[str, list[str]] = {}  # node id -> the tasks its emission added to this DAG
        for n in nodes:
            before = len(dag.order)
            if isinstance(n, ir.TaskNode):
                self.task_node(n, dag)
            elif isinstance(n, ir.MapNode):
                self.map_node(n, dag)
            elif isinstance(n, ir.ConditionalNode):
                self.conditional(n, dag)
            elif isinstance(n, ir.FailNode):
                self.fail_node(n, dag)
            elif isinstance(n, ir.ExitHandlerNode):
                self.exit_handler_node(n, dag)
            else:
                self.subworkflow(n, dag)
            added[n.id] = sorted(dag.order[before:])
            if n.after:  # ordering edges (`with after(...)`): siblings, so tasks of this DAG
                waits = {t for other in n.after for t in added.get(other, ())}
                for name in added[n.id]:
                    spec = dag.tasks[name]
                    spec["dependentTasks"] = sorted(set(spec.get("dependentTasks", ())) | waits)

    # ------------------------------------------------------------------ references
    def ref(self, b: ir.Binding) -> Ref:
        """A binding as sources to read: a whole NamedTuple reads each of its outputs."""
        if isinstance(b, ir.OneOf):  # every reader picks it with a value task or an argument plan first
            raise CompileError("internal: a one_of() value has no single source")
        if isinstance(b, ir.Const):
            return Ref(None, const=b.value)
        if isinstance(b, ir.InputRef):
            return Ref(("input", b.name), path=b.path)
        if isinstance(b, ir.ItemRef):
            return Ref(("item", b.map), path=b.path)
        if isinstance(b, ir.FailureRef):  # only a handler's argument, bound to its status (_on_failure_task)
            raise CompileError("a failure is a handler's argument only")
        if b.output is not None:
            return Ref(("output", b.node, b.output), path=b.path)
        if b.path:
            return Ref(("output", b.node, b.path[0]), path=b.path[1:])
        outs = self.node_outputs.get(b.node, ())
        return Ref(None, fields=tuple((p.name, ("output", b.node, p.name)) for p in outs))

    def binding_type(self, b: ir.Binding) -> ir.TypeRef:
        if isinstance(b, ir.OneOf):  # the type every option is assignable to, as the tracer typed it
            types = [self.binding_type(o) for o in b.options]
            return next((t for t in types if all(assignable(u, t) for u in types)), types[0])
        if isinstance(b, ir.Const):
            return ir.TypeRef("any")
        if isinstance(b, ir.InputRef):
            base = next(p.type for p in self.wf.inputs if p.name == b.name)
            return follow_type(base, b.path)
        if isinstance(b, ir.ItemRef):
            return follow_type(self.item_types[b.map], b.path)
        if isinstance(b, ir.FailureRef):
            return ir.TypeRef("record", name="typedflow.dsl.failure:Failure")
        outs = {p.name: p.type for p in self.node_outputs.get(b.node, ())}
        if b.output is None:
            if not b.path:
                raise CompileError(f"a whole NamedTuple of {b.node!r} has no single type")
            return follow_type(outs[b.path[0]], b.path[1:])
        return follow_type(outs[b.output], b.path)

    def task_inputs(
        self, args: tuple[ir.Arg, ...], template: ir.TaskTemplate, dag: Dag, loc: ir.SourceLoc | None
    ) -> tuple[TaskInputs, dict[str, Chan], dict[str, Any]]:
        """A task's ``inputs``, its input definitions and the plan its executor follows to rebuild
        each argument (select a path, assemble a NamedTuple) before running the task."""
        params = {p.name: p for p in template.inputs}
        inputs: TaskInputs = {}
        chans: dict[str, Chan] = {}
        plan: dict[str, Any] = {}
        for a in args:
            if isinstance(a.value, ir.OneOf):  # each option with its presence flag: the executor takes the one present
                subplans = []
                for i, option in enumerate(a.value.options):
                    sub_inputs, sub_chans, sub_plan = self.task_inputs(
                        (ir.Arg(f"{a.param}__{i}", option, True),),
                        _with_input(template, f"{a.param}__{i}", a.param),
                        dag,
                        loc,
                    )
                    if "parameters" in sub_inputs:
                        inputs.setdefault("parameters", {}).update(sub_inputs["parameters"])
                    if "artifacts" in sub_inputs:
                        inputs.setdefault("artifacts", {}).update(sub_inputs["artifacts"])
                    chans.update(sub_chans)
                    subplans.append(sub_plan[f"{a.param}__{i}"])
                plan[a.param] = {"oneof": subplans}
                continue
            r = self.ref(a.value)
            if r.source is None and not r.fields:
                t = params[a.param].type
                if r.const is None and t.kind == "optional":  # an unset `T | None`: not passed at all
                    chans[a.param] = Chan(t, absent=True)
                    plan[a.param] = {"in": a.param}
                    continue
                chan = Chan(t)
                put_input(inputs, a.param, {"runtimeValue": {"constant": r.const}}, chan)
                chans[a.param] = chan
                plan[a.param] = {"in": a.param}
                continue
            maybe = False
            if r.source is not None:
                spec, chan = dag.resolve(r.source, loc, absent_ok=a.optional)
                maybe = chan.maybe
                chan = Chan(chan.type, chan.artifact)
                put_input(inputs, a.param, spec, chan)
                chans[a.param] = chan
                plan[a.param] = {"in": a.param, "path": list(r.path)} if r.path else {"in": a.param}
            else:
                fields: dict[str, str] = {}
                for fname, src in r.fields:
                    key = f"{a.param}__{fname}"
                    spec, chan = dag.resolve(src, loc, absent_ok=a.optional)
                    maybe = maybe or chan.maybe
                    chan = Chan(chan.type, chan.artifact)
                    put_input(inputs, key, spec, chan)
                    chans[key] = chan
                    fields[fname] = key
                plan[a.param] = {"fields": fields}
            if maybe:
                # the value is a placeholder unless its branch ran: the executor reads the flag
                node = (r.source or r.fields[0][1])[1]
                key = f"{a.param}__present"
                while key in chans:
                    key += "_"
                spec, chan = dag.resolve(("output", node, PRESENT), loc)
                put_input(inputs, key, spec, chan)
                chans[key] = chan
                plan[a.param]["present"] = key
        return inputs, chans, plan

    def value_source(self, b: ir.Binding, t: ir.TypeRef, dag: Dag, *, local: bool, loc: ir.SourceLoc | None) -> Source:
        """A source for ``b`` that needs no plan: the producer output itself, or a small value
        task that selects, assembles or passes the value (DAG outputs and loop items need one)."""
        if isinstance(b, ir.OneOf):  # whichever option is present: a value task picks it
            return self.value_task(b, t, dag, loc)
        r = self.ref(b)
        if r.source is not None and not r.path and r.source[0] == "output":
            if not local or r.source[1] in dag.local:
                return r.source
        if r.source is not None and not r.path and not local:
            return r.source
        if is_artifact_type(t):
            raise CompileError(
                f"{_at(loc)}a file here must come straight from the task that produced it "
                "on Vertex (no field selection, pass-through or constant)"
            )
        return self.value_task(b, t, dag, loc)

    def value_task(
        self,
        b: ir.MapResult,
        t: ir.TypeRef,
        dag: Dag,
        loc: ir.SourceLoc | None,
        *,
        optional: bool = False,
        guard: list[Source] | None = None,
    ) -> Source:
        """A task selecting, assembling or passing on ``b`` as a value of ``t``. Inside a tolerant item it stands
        down when its producers failed (or one of ``guard``), as any executor there."""
        n = self.count("value")
        node_id = f"value-{n}"
        key = self.new_component(node_id)
        label = "exec-" + key[len("comp-") :]
        if isinstance(b, ir.RecordOf):  # a record a map body built: each field read as an argument is read
            types = {f.name: f.type for f in t.fields}
            args = tuple(ir.Arg(f"value__{a.param}", a.value, a.optional) for a in b.fields)
            params = tuple(ir.Param(f"value__{a.param}", types[a.param]) for a in b.fields)
        else:
            args, params = (ir.Arg("value", b, optional),), (ir.Param("value", t),)
        fake = ir.TaskTemplate(
            name="value",
            module="",
            qualname="",
            code_digest="",
            inputs=params,
            outputs=(ir.Param("out", t),),
            returns=t,
        )
        inputs, chans, plan = self.task_inputs(args, fake, dag, loc)
        if isinstance(b, ir.RecordOf):
            plan = {"value": {"record": {a.param: plan[f"value__{a.param}"] for a in b.fields}}}
        outs = {"out": Chan(t)}
        payload: dict[str, Any] = {"plan": plan["value"], "type": type_json(t)}
        if self.scope is not None:
            payload["tolerate"] = FAILED
            payload["upstream"] = self.guard_inputs(dag, guards.binding_nodes([b]), inputs, chans, loc, guard)
            outs[FAILED] = Chan(STR)
        self.components[key] = component(chans, outs, label)
        if artifact_lists(chans):
            payload["lists"] = artifact_lists(chans)
        self.executors[label] = executor(self.image, "value", payload, None)
        spec: TaskSpec = {"componentRef": {"name": key}, "inputs": inputs}
        if self.scope is not None:
            spec["cachingOptions"] = {"enableCache": False}
        task = dag.add_task(node_id, spec)
        dag.local[node_id] = Local(task, {"out": ("out", Chan(t))})
        if self.scope is not None:
            dag.local[node_id].outputs[FLAG] = (FAILED, Chan(STR))
        return ("output", node_id, "out")

    # ------------------------------------------------------------------ nodes
    def template(self, n: ir.TaskNode) -> _Template:
        """``n``'s template as it runs (its call options applied), with what every node of it shares."""
        known = self.templates.get((n.task, n.options))
        if known is None:
            t = ir.effective(self.doc.task(n.task), n.options)
            text = canonical_json(template_json(t))
            known = self.templates[(n.task, n.options)] = _Template(t, text, output_chans(t.outputs))
        return known

    def task_node(self, n: ir.TaskNode, dag: Dag) -> None:
        shared = self.template(n)
        template, outs = shared.template, shared.outs
        inputs, chans, plan = self.task_inputs(n.args, template, dag, n.loc)
        key = self.new_component(n.id)
        label = "exec-" + key[len("comp-") :]
        ran = n.id in self.lifted
        tolerant = self.scope is not None
        upstream: list[str] = []  # inputs: the failures of the item's executors it reads (it stands down on one)
        if tolerant:
            upstream = self.guard_inputs(dag, guards.reads(n), inputs, chans, n.loc)
        extra = {RAN: Chan(BOOL)} if ran else {}
        if tolerant:
            extra[FAILED] = Chan(STR)
        self.components[key] = component(chans, {**outs, **extra}, label)
        payload = task_payload(n.id, self.doc.workflow.name, self.doc.digest, plan)
        if ran:
            payload["ran"] = RAN
        if tolerant:
            payload["tolerate"] = FAILED
        if upstream:
            payload["upstream"] = upstream
        if artifact_lists(chans):
            payload["lists"] = artifact_lists(chans)
        try:
            arg = task_arg(shared.text, payload)
            self.executors[label] = executor(template.image or self.image, "task", arg, template.resources)
            self.task_templates[label] = template
        except ValueError as exc:
            raise CompileError(f"{_at(n.loc)}task {template.name!r}: {exc}") from None
        spec: TaskSpec = {"componentRef": {"name": key}}
        if inputs:
            spec["inputs"] = inputs
        # (a tolerated failure is reported as an output: Vertex's cache would hand it to later runs as a result)
        spec["cachingOptions"] = {"enableCache": template.cache.enabled and not tolerant}
        retry = retry_policy(template.retry)
        if retry:
            spec["retryPolicy"] = retry
        task = dag.add_task(n.id, spec)
        dag.local[n.id] = Local(task, {k: (k, c) for k, c in outs.items()})
        if ran:
            dag.local[n.id].outputs[PRESENT] = (RAN, Chan(BOOL))
        if tolerant:
            dag.local[n.id].outputs[FLAG] = (FAILED, Chan(STR))

    def guard_inputs(
        self,
        dag: Dag,
        reads: set[str],
        inputs: TaskInputs,
        chans: dict[str, Chan],
        loc: ir.SourceLoc | None,
        given: list[Source] | None = None,
        prefix: str = FAILED,
    ) -> list[str]:
        """Inputs ``typedflow-failed-K`` of an executor inside a tolerant item: the failure flags of what it reads
        (or ``given`` ones), which it checks before it runs; their names."""
        assert self.scope is not None
        names: list[str] = []
        for src in guards.guard(dag, reads, self.scope) if given is None else given:
            spec, chan = dag.resolve(src, loc)
            name = f"{prefix}-{len(names)}"
            put_input(inputs, name, spec, chan)
            chans[name] = chan
            names.append(name)
        return names

    def fail_node(self, n: ir.FailNode, dag: Dag) -> None:
        """``fail(message)``: a task whose container fails with the message; inside a tolerant item it reports
        the failure as its flag instead (and stands down when what it is ordered after failed)."""
        key = self.new_component(n.id)
        label = "exec-" + key[len("comp-") :]
        payload: dict[str, Any] = {"error": ir.FAIL_ERROR, "message": n.message}
        inputs: TaskInputs = {}
        chans: dict[str, Chan] = {}
        outs: dict[str, Chan] = {}
        if self.scope is not None:
            payload["tolerate"] = FAILED
            payload["node"] = n.id  # the failure it reports names it, as a handler's Failure does
            payload["upstream"] = self.guard_inputs(dag, guards.reads(n), inputs, chans, n.loc)
            outs[FAILED] = Chan(STR)
        self.components[key] = component(chans, outs, label)
        self.executors[label] = executor(self.image, "fail", payload, None)
        spec: TaskSpec = {"componentRef": {"name": key}, "cachingOptions": {"enableCache": False}}
        if inputs:
            spec["inputs"] = inputs
        task = dag.add_task(n.id, spec)
        if outs:
            dag.local[n.id] = Local(task, {FLAG: (FAILED, Chan(STR))})

    def const_task(self, dag: Dag, base: str, values: dict[str, tuple[Any, Chan]]) -> str:
        """A task writing constant parameter outputs (``--const``): the placeholders and presence
        flags of a branch that did not compute some value."""
        key = self.new_component(f"{base}-{self.count(base)}")
        label = "exec-" + key[len("comp-") :]
        self.components[key] = component({}, {k: c for k, (_, c) in values.items()}, label)
        self.executors[label] = executor(self.image, "const", {"outputs": {k: v for k, (v, _) in values.items()}}, None)
        return dag.add_task(key[len("comp-") :], {"componentRef": {"name": key}})

    def nested_task(self, dag: Dag, child: Dag, base: str, extra: TaskSpec) -> str:
        inputs: TaskInputs = {}
        for name, spec in sorted(child.bindings.items()):
            put_input(inputs, name, spec, child.inputs[name])
        self.components[child.key] = child.component()
        task: TaskSpec = {"componentRef": {"name": child.key}}
        if inputs:
            task["inputs"] = inputs
        task.update(extra)
        return dag.add_task(base, task)

    def map_node(self, n: ir.MapNode, dag: Dag) -> None:
        # A ParallelFor fails with any failed iteration: in a map that tolerates failed items, every executor of the
        # item reports its failure as an output instead (guards), and a step after the loop applies the rule. Inside
        # another tolerant item every map is one (tolerating none unless told), whose failure is that item's.
        outer = self.scope
        tolerant = bool(n.tolerated_failure) or outer is not None
        inner: Scope | None = Scope() if tolerant else None
        if outer is not None:
            # items a failed producer stood in for are one stand-in each: the body stands down on the map's guard,
            # the flags of all it reads from outside (locally it starts only once those succeeded)
            inner = Scope(tuple(guards.guard(dag, guards.outside_reads(n), outer)))
        k = self.count("for-loop")
        group = Dag(self, self.new_component(n.id), dag)
        # a one_of() list (whichever branch ran) is picked by a value task, like any computed value
        items = None if isinstance(n.items.value, ir.OneOf) else self.ref(n.items.value)
        looped: IteratorItems
        files = False  # iterating over files a map_over collected: an artifact list, as kfp's artifactIterator
        if items is not None and items.source is None and not items.fields:
            looped = {"raw": _json(items.const)}
            items_name = channel(n.id, "items")
        else:
            src = self.value_source(n.items.value, ir.TypeRef("list", (n.item_type,)), dag, local=False, loc=n.loc)
            _, items_chan = group.resolve(src, n.loc)
            items_name = group.needs[src]
            files = items_chan.artifact
            looped = {"inputArtifact": items_name} if files else {"inputParameter": items_name}
        item_name = items_name + "-loop-item"
        self.item_channels[n.id] = item_name
        iterator: Iterator = {"items": looped, "itemInput": item_name}
        body = Dag(self, self.new_component(f"for-loop-{k}"), group)
        item_chan = Chan(n.item_type, files)
        body.items[n.id] = (item_name, item_chan)
        body.inputs[item_name] = item_chan
        if "raw" not in looped:
            body.inputs[items_name] = group.inputs[items_name]
            body.bindings[items_name] = _component_input(items_name, group.inputs[items_name])
        self.scope = inner
        try:
            self.block(n.body, body)
            src = self._map_result(n, body, handles=tolerant)
        finally:
            self.scope = outer
        lo = body.local[src[1]]
        out_key, chan = lo.outputs[src[2]]
        collected = channel(src[1], src[2])
        # a file per item is collected as an artifact list (kfp's dsl.Collected of artifacts), else a LIST
        list_chan = Chan(ir.TypeRef("list", (n.result_type,)), chan.artifact)
        body.export(collected, lo.task, out_key, list_chan)
        failed_chan = Chan(ir.TypeRef("list", (STR,)))
        names = Namer()
        reported = [(names.take(channel(task, key)), task, key) for task, key in guards.flag_outputs(body)]
        for name, task, key in reported:  # each executor's failures, collected: an item failed if any did
            body.export(name, task, key, failed_chan)
        extra: TaskSpec = {"artifactIterator": iterator} if files else {"parameterIterator": iterator}
        if n.max_concurrency:
            if n.max_concurrency > PARALLELISM_LIMIT_MAX:
                raise CompileError(
                    f"{_at(n.loc)}map_over max_concurrency {n.max_concurrency:,} is over the PipelineSpec's limit: "
                    f"iteratorPolicy.parallelismLimit is an int32, at most {PARALLELISM_LIMIT_MAX:,}"
                )
            extra["iteratorPolicy"] = {"parallelismLimit": n.max_concurrency}
        loop_task = self.nested_task(group, body, f"for-loop-{k}", extra)
        group.export("out", loop_task, collected, list_chan)
        flags = [f"{FAILED}-{j}" for j in range(len(reported))]
        for (name, _, _), flag in zip(reported, flags, strict=True):
            group.export(flag, loop_task, name, failed_chan)
        task = self.nested_task(dag, group, n.id, {})
        if tolerant:
            guard = list(inner.ambient) if inner is not None and outer is not None else None
            task = self._tolerance_task(n, dag, task, list_chan, {flag: failed_chan for flag in flags}, guard)
        dag.local[n.id] = Local(task, {"out": ("out", list_chan)})
        if outer is not None:
            dag.local[n.id].outputs[FLAG] = (FAILED, Chan(STR))

    def _map_result(self, n: ir.MapNode, body: Dag, *, handles: bool) -> Source:
        """What a map's body gives for each item. ``handles``: a file goes on as its handle (a parameter), as for a
        tolerant map, whose step after the loop passes on parameters only."""
        if isinstance(n.result, ir.RecordOf):  # a record the body built of its values: a value task assembles it
            return self.value_task(n.result, n.result_type, body, n.loc)
        if self._from_branch(n.result):  # None when its branch did not run, not the branch's placeholder
            return self.value_task(n.result, n.result_type, body, n.loc, optional=True)
        src = self.value_source(n.result, n.result_type, body, local=True, loc=n.loc)
        if body.local[src[1]].outputs[src[2]][1].artifact and (handles or is_artifact_list(n.result_type)):
            # files an inner map collected: an artifact list cannot hold lists, so their handles go on
            src = self.value_task(n.result, n.result_type, body, n.loc)
        return src

    def _tolerance_task(
        self,
        n: ir.MapNode,
        dag: Dag,
        group_task: str,
        out: Chan,
        flags: dict[str, Chan],
        guard: list[Source] | None,
    ) -> str:
        """The step after a tolerant map's loop: its results with None for each failed item, or the map's failure
        when more items failed than it tolerates (``typedflow.runtime.tolerance``). ``flags``: the failures
        each of the item's executors reported, collected over the items. ``guard``: inside another tolerant item,
        the flags of what the map reads: the step stands down on one, and reports its own failure as its flag."""
        key = self.new_component(f"{n.id}-tolerance")
        label = "exec-" + key[len("comp-") :]
        chans = {"out": out, **flags}
        inputs: TaskInputs = {}
        for name in chans:
            put_input(
                inputs, name, {"taskOutputParameter": {"producerTask": group_task, "outputParameterKey": name}}, out
            )
        payload: dict[str, Any] = {"node": n.id, "share": n.tolerated_failure, "type": type_json(out.type)}
        payload["flags"] = list(flags)
        outs = {"out": out}
        spec: TaskSpec = {"componentRef": {"name": key}, "inputs": inputs}
        if guard is not None:
            payload["tolerate"] = FAILED
            # (named apart from the collected flags, typedflow-failed-K)
            payload["upstream"] = self.guard_inputs(dag, set(), inputs, chans, n.loc, guard, "typedflow-upstream")
            outs[FAILED] = Chan(STR)
            spec["cachingOptions"] = {"enableCache": False}
        self.components[key] = component(chans, outs, label)
        self.executors[label] = executor(self.image, "tolerance", payload, None)
        return dag.add_task(f"{n.id}-tolerance", spec)

    def _from_branch(self, b: ir.Binding) -> bool:
        """Whether ``b`` reads a value surfaced from a `when` branch (which may not have run)."""
        return isinstance(b, ir.OutputRef) and any(
            b.node == node and (b.output is None or b.output == output)
            for pairs in self.escaping.values()
            for node, output in pairs
        )

    def _escaping_outputs(self, n: ir.ConditionalNode) -> list[tuple[str, str, str, Chan]]:
        """(node, output, DAG output key, channel) of each value surfaced from the branches; the
        presence flag of each node is ``output`` PRESENT."""
        pairs = sorted(self.escaping.get(n.id, ()))
        types = {(node, p.name): p.type for node in {p[0] for p in pairs} for p in self.node_outputs.get(node, ())}
        out: list[tuple[str, str, str, Chan]] = []
        names = Namer()
        for node, output in pairs:
            t = types[(node, output)]
            if is_artifact_type(t):
                raise CompileError(
                    f"{_at(n.loc)}the file {output!r} of {node!r} is produced inside a `when` branch "
                    "and used outside it; Vertex cannot pass a file that may not exist "
                    "(not supported yet)"
                )
            out.append((node, output, names.take(channel(node, output)), Chan(t, maybe=True)))
        for node in sorted({p[0] for p in pairs}):
            out.append((node, PRESENT, names.take(channel(node, "ran")), Chan(BOOL)))
        return out

    def _surface(self, child: Dag, escaping: list[tuple[str, str, str, Chan]]) -> None:
        """Make every escaping value an output of a branch DAG: from the node that computed it here,
        else from a constant task (a placeholder, and ``false`` for its presence flag)."""
        consts: dict[str, tuple[Any, Chan]] = {}
        flags: list[tuple[str, str, Chan]] = []
        for node, output, key, chan in escaping:
            lo = child.local.get(node)
            if lo is None:
                consts[key] = (False if output == PRESENT else placeholder(chan.type), Chan(chan.type))
            elif output in lo.outputs:
                src_key, src_chan = lo.outputs[output]
                if src_chan.artifact:  # files a map collected: a parameter (their handles), as placeholders are
                    picked = self.value_task(ir.OutputRef(node, output), src_chan.type, child, None)
                    src_key, lo = "out", child.local[picked[1]]
                child.export(key, lo.task, src_key, Chan(chan.type))
            else:  # a map or sub-workflow computed it: its flag is a constant `true`
                flags.append((key, node, chan))
        if flags:
            task = self.const_task(child, "present", {key: (True, Chan(BOOL)) for key, _, _ in flags})
            for key, _, _ in flags:
                child.export(key, task, key, Chan(BOOL))
        if consts:
            task = self.const_task(child, "absent", consts)
            for key, (_, chan) in consts.items():
                child.export(key, task, key, chan)

    def conditional(self, n: ir.ConditionalNode, dag: Dag) -> None:
        k = self.count("condition-branches")
        group = Dag(self, self.new_component(f"condition-branches-{k}"), dag)
        earlier: list[str] = []
        # a branch's condition negates every earlier one, so it reads all their operands too
        operands: dict[str, tuple[Source, Chan]] = {}
        escaping = self._escaping_outputs(n)
        outer = self.scope
        # inside a tolerant item, a branch runs only when nothing the block reads failed (never on stand-ins)
        ok, guard = self._condition_guard(n, group, operands) if outer is not None else (None, [])
        flagged = outer is not None and any(br.nodes for br in n.branches)  # its branches' flags are its outputs
        branches = list(n.branches)
        if (escaping or flagged) and branches[-1].condition is not None:
            branches.append(ir.Branch(None, (), n.loc))  # the implicit `otherwise`: every value is absent
        built: list[tuple[Dag, str, str]] = []  # (branch DAG, its task's name, its condition)
        picked: dict[ir.Binding, Source] = {}  # one_of() operands: one value task each, before the group
        for br in branches:

            def operand(b: ir.Binding, loc: ir.SourceLoc = br.loc) -> tuple[str, ir.TypeRef]:
                if isinstance(b, ir.OneOf):  # whichever branch of its chain ran: a value task picks it
                    if b not in picked:
                        picked[b] = self.value_task(b, self.binding_type(b), dag, loc)
                    r = Ref(picked[b])
                else:
                    r = self.ref(b)
                if r.source is None:
                    raise CompileError(f"{_at(loc)}a condition compares a whole NamedTuple")
                spec, chan = group.resolve(r.source, loc)
                name = spec["componentInputParameter"]
                operands[name] = (r.source, chan)
                return cel.parameter(name, r.path), self.binding_type(b)

            try:
                own = cel.to_cel(br.condition, operand) if br.condition is not None else None
            except cel.MixedComparison as exc:
                raise CompileError(f"{_at(br.loc)}{exc} (Vertex evaluates conditions in CEL)") from None
            condition = cel.branch_condition(own, earlier)
            if own is not None:
                earlier.append(own)
            if ok is not None:
                condition = f"{ok} && {condition}" if condition else ok
            if not br.nodes and not escaping and not flagged:
                continue
            m = self.count("condition")
            child = _branch(self, f"condition-{m}", group, operands)
            self.scope = Scope() if outer is not None else None  # the condition saw the guard clear
            try:
                self.block(br.nodes, child)
            finally:
                self.scope = outer
            if escaping:
                self._surface(child, escaping)
            built.append((child, f"condition-{m}", condition))
        if ok is not None and built:
            # what its conditions read failed: no branch runs, this one passes the failure on
            m = self.count("condition")
            child = _branch(self, f"condition-{m}", group, operands)
            self.value_task(ir.Const(""), STR, child, n.loc, guard=guard)
            if escaping:
                self._surface(child, escaping)
            built.append((child, f"condition-{m}", f"!({ok})"))
        reported = [guards.flag_outputs(child) for child, _, _ in built] if outer is not None else []
        width = max(map(len, reported), default=0)
        for i, (child, _, _) in enumerate(built if width else ()):
            for j, (task, key) in enumerate(reported[i]):
                child.export(f"{FAILED}-{j}", task, key, Chan(STR))
            rest = {f"{FAILED}-{j}": ("", Chan(STR)) for j in range(len(reported[i]), width)}
            if rest:
                none = self.const_task(child, "no-failure", rest)
                for name in rest:
                    child.export(name, none, name, Chan(STR))
        selectors = [
            self.nested_task(group, child, base, {"triggerPolicy": {"condition": condition}})
            for child, base, condition in built
        ]
        if not group.tasks:
            return
        for _, _, key, chan in escaping:
            group.export_oneof(key, [(task, key) for task in selectors], Chan(chan.type))
        for j in range(width):
            group.export_oneof(f"{FAILED}-{j}", [(task, f"{FAILED}-{j}") for task in selectors], Chan(STR))
        task = self.nested_task(dag, group, n.id, {})
        for node, output, key, chan in escaping:
            # later readers find the value (and its flag) as an output of the condition group
            dag.local.setdefault(node, Local(task, {})).outputs[output] = (key, chan)
        for node in sorted({n.id, *(e[0] for e in escaping)}) if width else ():
            for j in range(width):  # ... and its failure flags: those of every executor in the branch that ran
                dag.local.setdefault(node, Local(task, {})).outputs[f"{FLAG}{j}"] = (f"{FAILED}-{j}", Chan(STR))

    def _condition_guard(
        self, n: ir.ConditionalNode, group: Dag, operands: dict[str, tuple[Source, Chan]]
    ) -> tuple[str | None, list[Source]]:
        """The CEL term saying no flag of what ``n`` reads from outside (at any depth, as locally it starts only
        once those succeeded) is set (None when it reads none from the item), and those flags; each is an operand of
        every branch."""
        assert self.scope is not None
        assert group.parent is not None
        guard = guards.guard(group.parent, guards.outside_reads(n), self.scope)
        terms = []
        for src in guard:
            spec, chan = group.resolve(src, n.loc)
            name = spec["componentInputParameter"]
            operands[name] = (src, chan)
            terms.append(f"{cel.parameter(name)} == ''")
        return (" && ".join(terms) if terms else None), guard

    def subworkflow(self, n: ir.SubWorkflowNode, dag: Dag) -> None:
        sub = self.doc.subworkflow(n.workflow)
        params = {p.name: p for p in sub.inputs}
        inputs: TaskInputs = {}
        top: dict[str, Chan] = {}
        for a in n.args:
            want = params[a.param].type
            r = None if isinstance(a.value, ir.OneOf) else self.ref(a.value)  # one_of(): a value task picks it
            if r is not None and r.source is None and not r.fields:
                chan = Chan(want)
                put_input(inputs, a.param, {"runtimeValue": {"constant": r.const}}, chan)
            else:
                src = self.value_source(a.value, want, dag, local=False, loc=n.loc)
                spec, got = dag.resolve(src, n.loc)
                if not assignable(got.type, want) and got.type.kind != "any":
                    raise CompileError(f"{_at(n.loc)}{a.param!r}: {got.type} is not {want}")
                chan = Chan(want, got.artifact)
                put_input(inputs, a.param, spec, chan)
            top[a.param] = chan
        outer = self.scope
        inner_scope = None
        if outer is not None:  # inside a tolerant item: its executors also check the flags of what the call reads
            chans: dict[str, Chan] = {}
            names = self.guard_inputs(dag, guards.reads(n), inputs, chans, n.loc)
            top.update(chans)
            inner_scope = Scope(tuple(("input", name) for name in names))
        key = self.new_component(n.workflow)
        self.scope = inner_scope
        try:
            inner = self.workflow_dag(sub, key, top)
        finally:
            self.scope = outer
        flags: dict[str, tuple[str, Chan]] = {}
        if outer is not None:  # what its executors report, surfaced to the item
            for j, (task, out_key) in enumerate(guards.flag_outputs(inner)):
                inner.export(f"{FAILED}-{j}", task, out_key, Chan(STR))
                flags[f"{FLAG}{j}"] = (f"{FAILED}-{j}", Chan(STR))
        self.components[key] = inner.component()
        call: TaskSpec = {"componentRef": {"name": key}}
        if inputs:
            call["inputs"] = inputs
        task = dag.add_task(n.id, call)
        values = {k: (k, c) for k, c in inner.output_chans.items() if not k.startswith(FAILED)}
        dag.local[n.id] = Local(task, {**values, **flags})


def _branch(b: Builder, base: str, group: Dag, operands: dict[str, tuple[Source, Chan]]) -> Dag:
    """A branch's DAG in a condition group, reading every condition operand as an input of its own (the
    names its ``triggerPolicy`` condition reads)."""
    child = Dag(b, b.new_component(base), group)
    for name, (src, chan) in sorted(operands.items()):
        child.inputs[name] = chan
        child.needs[src] = name
        child.bindings[name] = {"componentInputParameter": name}
    return child


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)
