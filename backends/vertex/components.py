"""Container components: one component and one executor per task node, running the typedflow
runtime (``python3 -m typedflow.runtime vertex``) on the executor input (``{{$}}``).

kfp emits one component per task as well; sharing one between nodes would make kfp.local write
both nodes' outputs to one directory.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

import attrs

from typedflow import ir
from typedflow.ir.canonical import canonical_json
from typedflow.ir.codec import converter as ir_converter

from .spec import (
    ComponentSpec,
    Container,
    Definitions,
    ExecutorSpec,
    InputSpec,
    Resources,
    RetryPolicy,
    TaskInputs,
)
from .typemap import artifact_def, is_artifact_type, parameter_def, parameter_type

COMMAND = ["python3", "-m", "typedflow.runtime", "vertex"]
"""``python3``: kfp.local swaps exactly that word for its own interpreter."""


@attrs.frozen
class Chan:
    """What flows along an edge: a value of ``type``, as an artifact or as a parameter."""

    type: ir.TypeRef
    artifact: bool = False
    maybe: bool = False
    """A value from a ``when`` branch that may not have run: a placeholder then, with a presence flag."""
    absent: bool = False
    """An optional input left unset (None): declared ``isOptional`` and not passed, as kfp compiles it."""


STR = ir.TypeRef("str")

PRESENT = "?"
"""The source key of a node's presence flag (``("output", node, PRESENT)``): whether a ``when`` branch computed it."""


@attrs.define
class Local:
    """A producer in a DAG: its task name and its outputs (source key → (output key, channel))."""

    task: str
    outputs: dict[str, tuple[str, Chan]]


def put_input(inputs: TaskInputs, name: str, spec: InputSpec, chan: Chan) -> None:
    """Add a task input, as an artifact or a parameter as ``chan`` says."""
    if chan.artifact:
        inputs.setdefault("artifacts", {})[name] = spec
    else:
        inputs.setdefault("parameters", {})[name] = spec


def input_spec(spec: InputSpec, chan: Chan) -> tuple[Literal["parameters", "artifacts"], InputSpec]:
    """(``parameters`` or ``artifacts``, spec) of a task input."""
    return ("artifacts" if chan.artifact else "parameters"), spec


def definitions(chans: dict[str, Chan], *, optional: frozenset[str] = frozenset()) -> Definitions:
    params = {
        k: parameter_def(c.type, optional=k in optional or c.absent) for k, c in sorted(chans.items()) if not c.artifact
    }
    arts = {k: artifact_def(c.type) for k, c in sorted(chans.items()) if c.artifact}
    out: Definitions = {}
    if arts:
        out["artifacts"] = arts
    if params:
        out["parameters"] = params
    return out


FAILED = "typedflow-failed"
"""The STRING output of a task in a ``map_over(..., tolerated_failure=...)`` item: its error as JSON when its last
attempt failed (its other outputs are then placeholders), else empty; a tolerance step after the loop reads them."""

RAN = "typedflow-ran"
"""The BOOLEAN output a task writes (``true``) when a value it computes inside a ``when`` branch is
used outside the branch: the branch's presence flag (a hyphen, so never a Python output name)."""

_PLACEHOLDERS: dict[str, Any] = {
    "NUMBER_INTEGER": 0,
    "NUMBER_DOUBLE": 0.0,
    "STRING": "",
    "BOOLEAN": False,
    "LIST": [],
    "STRUCT": {},
}


def placeholder(t: ir.TypeRef) -> Any:
    """A value of ``t``'s parameter type that stands for "not computed" (never null: kfp.local cannot
    pass a null parameter, and KFP rejects null inputs of non-string types); its flag says so."""
    return _PLACEHOLDERS[parameter_type(t)]


def stand_in(t: ir.TypeRef) -> Any:
    """What an executor of a failed tolerant map item writes for a value of ``t`` it did not compute: a
    :func:`placeholder`, but a list holds one stand-in, so that a ``map_over`` over it runs one iteration that
    stands down (kfp.local fails a loop over an empty list)."""
    base = t.args[0] if t.kind == "optional" else t
    if base.kind == "list" and base.args:
        return [stand_in(base.args[0])]
    return placeholder(t)


def artifact_lists(chans: dict[str, Chan]) -> list[str]:
    """The inputs among ``chans`` that are artifact lists (files a ``map_over`` collected), sorted: the
    container reads each as the list of its files' handles."""
    return sorted(k for k, c in chans.items() if c.artifact and c.type.kind == "list")


def output_chans(outputs: tuple[ir.Param, ...]) -> dict[str, Chan]:
    return {p.name: Chan(p.type, is_artifact_type(p.type)) for p in outputs}


def template_json(t: ir.TaskTemplate) -> Any:
    try:
        hash(t)
    except TypeError:  # a parameter's default is a list or a record (a JSON dict): no cache key, made each time
        return _template_json(t)
    return _cached_template_json(t)


def _template_json(t: ir.TaskTemplate) -> Any:
    data = ir_converter.unstructure(t)
    data.pop("loc", None)  # where it was defined is not what runs; keeps specs stable across moves
    return data


_cached_template_json = functools.lru_cache(maxsize=1024)(_template_json)  # one template serves many nodes


def _arg_text(payload: Any) -> str:
    return _no_placeholder(canonical_json(payload))


def _no_placeholder(text: str) -> str:
    if "{{" in text:  # would read as a KFP placeholder
        text = text.replace("{{", "{ {")
    return text


def task_arg(template_text: str, payload: dict[str, Any]) -> str:
    """The executor argument of a task node: ``payload`` (:func:`task_payload`) with its ``template`` whose
    canonical JSON is ``template_text``, as :func:`executor` writes a payload. A template is the same for every
    node of its task, so it is encoded once rather than once a node (a quarter of compiling a large spec); in
    sorted order ``template`` comes right before ``workflow``, the payload's last key."""
    rest = canonical_json(payload)
    head, sep, tail = rest.rpartition(',"workflow":')
    assert sep, "a task payload names its workflow"
    return _no_placeholder(f'{head},"template":{template_text}{sep}{tail}')


def executor(image: str, mode: str, payload: dict[str, Any] | str, resources: ir.ResourceSpec | None) -> ExecutorSpec:
    """The executor running ``mode`` on ``payload`` (or on the argument :func:`task_arg` made of it)."""
    container: Container = {
        "image": image,
        "command": list(COMMAND),
        "args": [
            "--executor-input",
            "{{$}}",
            "--pipeline-root",
            "{{$.pipeline_root}}",
            "--job",
            "{{$.pipeline_job_name}}",
            f"--{mode}",
            payload if isinstance(payload, str) else _arg_text(payload),
        ],
    }
    res: Resources = resource_spec(resources) if resources is not None else {}
    if res:
        container["resources"] = res
    return {"container": container}


_MEM_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "p": 10**15,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
    "pi": 2**50,
}


def memory_gb(quantity: str) -> float:
    """A Kubernetes memory quantity in GB (10^9 bytes), as kfp's ``memoryLimit`` carries it."""
    q = quantity.strip()
    num = q.rstrip("KMGTPEkmgtpeIi")
    unit = q[len(num) :].lower()
    if unit not in _MEM_UNITS:
        raise ValueError(f"memory {quantity!r}: not a Kubernetes quantity (e.g. 512Mi, 4G, 16Gi)")
    return float(num) * _MEM_UNITS[unit] / 10**9


def accelerator_type(name: str) -> str:
    """``nvidia-tesla-t4`` → ``NVIDIA_TESLA_T4`` (Vertex's accelerator enum spelling)."""
    return name.strip().upper().replace("-", "_")


def resource_spec(r: ir.ResourceSpec) -> Resources:
    out: Resources = {}
    if r.cpu is not None:
        out["cpuLimit"] = float(r.cpu)
        out["resourceCpuLimit"] = f"{r.cpu:g}"
    if r.memory is not None:
        out["memoryLimit"] = memory_gb(r.memory)
        out["resourceMemoryLimit"] = r.memory
    if r.gpu:
        if not r.gpu_type:
            raise ValueError("Resources(gpu=N) needs gpu_type on Vertex (e.g. 'nvidia-tesla-t4')")
        acc = accelerator_type(r.gpu_type)
        out["accelerator"] = {"type": acc, "count": str(r.gpu), "resourceType": acc, "resourceCount": str(r.gpu)}
    return out


def retry_policy(r: ir.RetryPolicy) -> RetryPolicy | None:
    """Vertex retries any failure; ``on`` and jitter have no Vertex equivalent (see docs)."""
    if r.attempts <= 1:
        return None
    return {
        "maxRetryCount": r.attempts - 1,
        "backoffDuration": f"{r.initial_delay:g}s",
        "backoffFactor": float(r.backoff),
        "backoffMaxDuration": f"{r.max_delay:g}s",
    }


def task_payload(node: str, workflow: str, ir_digest: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What a task's executor runs, but its template (:func:`task_arg` adds it)."""
    return {
        "node": node,
        "workflow": workflow,
        "ir_digest": ir_digest,
        "plan": plan,
    }


def decode_payload(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data


def component(
    inputs: dict[str, Chan],
    outputs: dict[str, Chan],
    executor_label: str | None = None,
    optional: frozenset[str] = frozenset(),
) -> ComponentSpec:
    comp: ComponentSpec = {}
    if executor_label is not None:
        comp["executorLabel"] = executor_label
    ins = definitions(inputs, optional=optional)
    if ins:
        comp["inputDefinitions"] = ins
    outs = definitions(outputs)
    if outs:
        comp["outputDefinitions"] = outs
    return comp


__all__ = ["Chan", "component", "executor", "input_spec", "is_artifact_type"]
