"""The ``typedflow-outputs`` step: the workflow's outputs written as typed JSON under the pipeline root.

Vertex keeps a pipeline's outputs in its metadata store, not where a reader of the pipeline root finds
them. This last step of the root DAG takes every workflow output (as the root DAG exports it) and
writes ``<pipeline root>/typedflow/runs/<job>/outputs.json`` = ``{"outputs": {name: typed JSON},
"value": what typedflow run prints}``, which ``start --wait`` and ``typedflow runs outputs`` read.
"""

from __future__ import annotations

from typing import Any

from typedflow import ir

from .components import Chan, artifact_lists, component, executor
from .dag import Builder, Dag
from .spec import TaskInputs, TaskOutputArtifact, TaskOutputParameter
from .typemap import type_json

STEP = "typedflow-outputs"


def _may_hold_null(t: ir.TypeRef) -> bool:
    if t.kind == "optional":
        return True
    return any(_may_hold_null(a) for a in t.args) or any(_may_hold_null(f.type) for f in t.fields)


def add_outputs_step(b: Builder, root: Dag, wf: ir.Workflow) -> None:
    """Add the step to ``root`` when every output is a plain selection of a subtask's output that is never
    None (a null parameter cannot be passed to a task: such workflows have no outputs record)."""
    if not root.output_chans or any(_may_hold_null(c.type) for c in root.output_chans.values()):
        return  # no null crosses a task edge (kfp's driver, kfp.local): such outputs are not readable here
    inputs: TaskInputs = {}
    chans: dict[str, Chan] = {}
    for name, chan in root.output_chans.items():
        if chan.artifact:
            art = root.outputs.get("artifacts", {}).get(name)
            sel = art["artifactSelectors"] if art is not None else []
            if len(sel) != 1:
                return
            task_artifact: TaskOutputArtifact = {
                "producerTask": sel[0]["producerSubtask"],
                "outputArtifactKey": sel[0]["outputArtifactKey"],
            }
            inputs.setdefault("artifacts", {})[name] = {"taskOutputArtifact": task_artifact}
        else:
            param = root.outputs.get("parameters", {}).get(name)
            src = param.get("valueFromParameter") if param is not None else None
            if src is None:
                return
            task_param: TaskOutputParameter = {
                "producerTask": src["producerSubtask"],
                "outputParameterKey": src["outputParameterKey"],
            }
            inputs.setdefault("parameters", {})[name] = {"taskOutputParameter": task_param}
        chans[name] = chan
    key = b.new_component(STEP)
    label = "exec-" + key[len("comp-") :]
    b.components[key] = component(chans, {}, label)
    single = len(wf.outputs) == 1 and wf.outputs[0].name == "out" and wf.returns.flavor != "namedtuple"
    payload: dict[str, Any] = {"types": {n: type_json(c.type) for n, c in sorted(chans.items())}, "single": single}
    if artifact_lists(chans):
        payload["lists"] = artifact_lists(chans)
    b.executors[label] = executor(b.image, "outputs", payload, None)
    root.add_task(STEP, {"componentRef": {"name": key}, "inputs": inputs})
