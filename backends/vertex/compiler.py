"""IR → PipelineSpec (KFP v2 schema 2.1.0): pure and deterministic."""

from __future__ import annotations

from typing import Any

from typedflow import ir
from typedflow.util.prettyjson import pretty

from .components import Chan
from .dag import Builder, CompileError
from .names import sanitize
from .outputs import add_outputs_step
from .spec import PipelineInfo, PipelineSpec
from .specyaml import dump_yaml

SCHEMA_VERSION = "2.1.0"
SDK_VERSION = "typedflow-vertex-1"


def default_image(doc: ir.WorkflowIR) -> str:
    """``python:X.Y`` of the Python that traced the workflow (tasks need typedflow and their code)."""
    parts = (doc.python_version or "3.11").split(".")
    return f"python:{'.'.join(parts[:2])}"


def pipeline_name(doc: ir.WorkflowIR) -> str:
    return sanitize(doc.workflow.name)


def compile_spec(doc: ir.WorkflowIR, *, image: str | None = None, shipment: Any = None) -> PipelineSpec:
    """The PipelineSpec of a workflow as a JSON-ready dict. ``shipment`` (see
    :mod:`typedflow.shipping.cli`): the code bundle its tasks import from and each task's image."""
    from .constants import place

    doc = place(doc)  # constant files by content, under the pipeline root (deploy uploads them)
    name = pipeline_name(doc)
    b = Builder(doc, image or default_image(doc), name)
    wf = doc.workflow
    top = {p.name: Chan(p.type) for p in wf.inputs}
    root = b.workflow_dag(wf, "root", top)
    add_outputs_step(b, root, wf)
    root_comp = root.component()
    params = root_comp.get("inputDefinitions", {}).get("parameters", {})
    for p in wf.inputs:
        if p.has_default and p.name in params:
            params[p.name]["defaultValue"] = p.default
            params[p.name]["isOptional"] = True
    info: PipelineInfo = {"name": name, "displayName": wf.name}
    executors = dict(sorted(b.executors.items()))
    if shipment is not None:
        from .shipping import ship_executors

        ship_executors(executors, doc, shipment, explicit_image=image, templates=b.task_templates)
    return {
        "components": dict(sorted(b.components.items())),
        "deploymentSpec": {"executors": executors},
        "pipelineInfo": info,
        "root": root_comp,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": SDK_VERSION,
    }


def dumps(spec: PipelineSpec, output: str | None) -> str:
    """YAML for ``.yaml``/``.yml`` outputs (the kfp tooling's form; see :mod:`.specyaml`), JSON otherwise."""
    if output and output.lower().endswith((".yaml", ".yml")):
        return dump_yaml(spec, f"# PIPELINE DEFINITION\n# Name: {spec['pipelineInfo']['name']}\n")
    return pretty(spec) + "\n"


def compile_text(doc: ir.WorkflowIR, options: dict[str, Any]) -> str:
    """The ``Backend.compile`` function: options may carry ``output``, ``image`` and ``shipment``."""
    shipment = options.get("shipment")
    if shipment is not None and not options.get("image"):
        import sys

        for note in shipment.plan.notes:
            print(f"typedflow compile: note: {note}", file=sys.stderr)
    spec = compile_spec(doc, image=options.get("image"), shipment=shipment)
    return dumps(spec, options.get("output"))


__all__ = ["CompileError", "compile_spec", "compile_text", "dumps"]
