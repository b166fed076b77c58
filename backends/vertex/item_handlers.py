"""Failure handlers inside the items of a ``map_over(..., tolerated_failure=x)``.

There no executor fails (``guards``), so a handler cannot hang on a DAG's final status as it does elsewhere
(``taskFinalStatus``, an exit handler's DAG). It is an ordinary tolerant executor ordered after everything it
handles: it reads their failure flags (``caught``) and builds its ``Failure`` from the first one set, runs even when
they are set (it does not stand down on them), and stands down only on the flags of what the block it handles read
from outside (``upstream``): a block that never ran locally has no handler run either.

- a sub-workflow's ``on_failure``: runs only when a flag of the sub-workflow's executors is set; the call's flags
  already say the item failed, so its own failure changes nothing (as locally) and is not a flag of the item;
- an ``exit_handler`` block: runs after the block whatever it reported (its ``Failure`` None when nothing failed);
  the block's flags and the handler's own are the flags of every value the block produced, so what reads one
  stands down when the block or its handler failed, as locally where the block is one node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typedflow import ir
from typedflow.ir.canonical import canonical_json

from . import guards
from .components import (
    FAILED,
    PRESENT,
    STR,
    Chan,
    Local,
    artifact_lists,
    component,
    executor,
    put_input,
    retry_policy,
    task_arg,
    task_payload,
    template_json,
)
from .guards import FLAG, Scope
from .names import channel

if TYPE_CHECKING:
    from .dag import Builder, Dag, Source
    from .spec import TaskSpec

CAUGHT = "typedflow-caught"
"""A handler's inputs ``typedflow-caught-K``: the failure flags of what it handles, in the order they were added."""


def handler_task(b: Builder, of: ir.OnFailure, dag: Dag, *, node: str | None, upstream: list[Source]) -> str:
    """The handler ``of`` of everything in ``dag`` so far: an ``on_failure`` (``node`` None: it runs only when one
    of them failed) or an exit handler's (``node``: it always runs). Ordered after every task of ``dag``."""
    template = b.doc.task(of.task)
    failure_args = [a for a in of.args if isinstance(a.value, ir.FailureRef)]
    plain = tuple(a for a in of.args if a not in failure_args)
    inputs, chans, plan = b.task_inputs(plain, template, dag, of.loc)
    caught: list[str] = []
    for task, key in guards.flag_outputs(dag):
        name = f"{CAUGHT}-{len(caught)}"
        put_input(inputs, name, {"taskOutputParameter": {"producerTask": task, "outputParameterKey": key}}, Chan(STR))
        chans[name] = Chan(STR)
        caught.append(name)
    for a in failure_args:
        plan[a.param] = {"caught": caught}
    names = b.guard_inputs(dag, set(), inputs, chans, of.loc, upstream)
    key = b.new_component(f"{of.task}-on-failure")
    label = "exec-" + key[len("comp-") :]
    b.components[key] = component(chans, {FAILED: Chan(STR)}, label)
    payload: dict[str, Any] = task_payload(node or f"on_failure/{of.task}", b.doc.workflow.name, b.doc.digest, plan)
    payload.update(on_failure=node is None, caught=caught, tolerate=FAILED, upstream=names)
    if artifact_lists(chans):
        payload["lists"] = artifact_lists(chans)
    arg = task_arg(canonical_json(template_json(template)), payload)
    b.executors[label] = executor(template.image or b.image, "task", arg, template.resources)
    b.task_templates[label] = template
    earlier = list(dag.order)
    spec: TaskSpec = {
        "componentRef": {"name": key},
        "inputs": inputs,
        "cachingOptions": {"enableCache": False},  # every failure is handled anew, as on every target
    }
    retry = retry_policy(template.retry)
    if retry:
        spec["retryPolicy"] = retry
    task = dag.add_task(key[len("comp-") :], spec)
    added = dag.tasks[task]
    added["dependentTasks"] = sorted({*added.get("dependentTasks", ()), *earlier})
    return task


def exit_handler_in_item(b: Builder, n: ir.ExitHandlerNode, dag: Dag) -> None:
    """``with exit_handler(...)`` inside a tolerant item: the block and its handler as a DAG of their own, every
    value the block produces an output of it, each with every flag of the DAG (see the module's docstring)."""
    outer = b.scope
    assert outer is not None
    upstream = guards.guard(dag, guards.outside_reads(n), outer)
    k = b.count("exit-handler")
    body = dag.child(b.new_component(f"exit-handler-{k}"))
    b.scope = Scope(tuple(upstream))  # the block's executors stand down on what it read from outside, as the handler
    try:
        b.block(n.body, body)
        hid = f"{n.id}/{n.handler.task}"
        handler = handler_task(b, n.handler, body, node=hid, upstream=upstream)
    finally:
        b.scope = outer
    body.local[hid] = Local(handler, {FLAG: (FAILED, Chan(STR))})
    flags: dict[str, tuple[str, Chan]] = {}
    for j, (task, key) in enumerate(guards.flag_outputs(body)):
        body.export(f"{FAILED}-{j}", task, key, Chan(STR))
        flags[f"{FLAG}{j}"] = (f"{FAILED}-{j}", Chan(STR))
    exported: dict[str, dict[str, tuple[str, Chan]]] = {n.id: {}}
    for node_id, lo in sorted(body.local.items()):
        if node_id == hid:
            continue
        for out, (okey, chan) in sorted(lo.outputs.items()):
            if out.startswith(FLAG):
                continue
            name = channel(node_id, out if out != PRESENT else "ran")
            body.export(name, lo.task, okey, chan)
            exported.setdefault(node_id, {})[out] = (name, chan)
    task = b.nested_task(dag, body, f"exit-handler-{k}", {})
    for node_id, outs in exported.items():
        dag.local[node_id] = Local(task, {**outs, **flags})
