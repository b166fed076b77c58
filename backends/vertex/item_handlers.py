"""Failure handlers inside the items of a ``map_over(..., tolerated_failure=x)``.

There no executor fails (``guards``), so a handler cannot hang on a DAG's final status as it does elsewhere
(``taskFinalStatus``, an exit handler's DAG). It is an ordinary tolerant executor ordered after everything it
handles: it reads their failure flags (``caught``) and builds its ``Failure`` from the first one set, runs even when
they are set (it does not stand down on them), and stands down only on the flags of what the block it handles read
from outside (``upstream``): a block that never ran locally has no handler run either.

- a sub-workflow's ``on_failure``: runs only when a flag of the sub-workflow's executors is set; the call's flags
  already say the item failed, so its own failure changes nothing (as locally) and is not a flag of the item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typedflow import ir
from typedflow.ir.canonical import canonical_json

from . import guards
from .components import (
    FAILED,
    Chan,
    artifact_lists,
    component,
    executor,
    retry_policy,
    task_arg,
    task_payload,
    template_json,
)

if TYPE_CHECKING:
    from .dag import Builder, Dag, Source
    from .spec import TaskSpec

STR = ir.TypeRef("str")
CAUGHT = "typedflow-caught"
"""A handler's inputs ``typedflow-caught-K``: the failure flags of what it handles, in the order they were added."""


def handler_task(b: Builder, of: ir.OnFailure, dag: Dag, *, node: str | None, upstream: list[Source]) -> str:
    """The handler ``of`` of everything in ``dag`` so far: an ``on_failure`` (``node`` None: it runs only when one
    of them failed) or an exit handler's (``node``: it always runs). Ordered after every task of ``dag``."""
    from .dag import _put_input

    template = b.doc.task(of.task)
    failure_args = [a for a in of.args if isinstance(a.value, ir.FailureRef)]
    plain = tuple(a for a in of.args if a not in failure_args)
    inputs, chans, plan = b.task_inputs(plain, template, dag, of.loc)
    caught: list[str] = []
    for task, key in guards.flag_outputs(dag):
        name = f"{CAUGHT}-{len(caught)}"
        _put_input(inputs, name, {"taskOutputParameter": {"producerTask": task, "outputParameterKey": key}}, Chan(STR))
        chans[name] = Chan(STR)
        caught.append(name)
    for a in failure_args:
        plan[a.param] = {"caught": caught}
    names = b._guard_inputs(dag, set(), inputs, chans, of.loc, upstream)
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
