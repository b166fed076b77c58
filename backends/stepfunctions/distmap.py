"""The states of a Distributed Map: a worker step that writes the items to S3, the Map reading them with
``ItemReader`` and writing its children's results with ``ResultWriter``, and a worker step that reads the results
back as the typed list in item order (the two steps: :mod:`.mapio`)."""

from __future__ import annotations

from typing import Any

import attrs

from typedflow import ir
from typedflow.runtime.tolerance import tolerated_percentage

from .executors import Call, emit, route
from .graph import DefinitionError, Fragment, Graph
from .mapio import ITEMS
from .options import Options, split_s3
from .paths import Path, obj
from .protocol import PROTOCOL_VERSION
from .states import JSON
from .states.map import MapState

S3_GET_OBJECT = "arn:aws:states:::s3:getObject"
S3_PUT_OBJECT = "arn:aws:states:::s3:putObject"


def store_of(node: ir.MapNode, opts: Options) -> tuple[str, str]:
    """(bucket, prefix) of the store, which a Distributed Map's items and results go through."""
    if not opts.bucket:
        raise DefinitionError(
            [
                f"map_over at {node.loc}: a Distributed Map reads its items from S3 and writes its results there: "
                "it needs --bucket"
            ]
        )
    return split_s3(opts.bucket)


def carrier(node: ir.MapNode, doc: ir.WorkflowIR) -> ir.TaskTemplate:
    """The task whose executor (and image) runs the map's two steps: the first task of its body (every runtime
    of a workflow can run them), with no retry or timeout of its own."""
    stack: list[ir.Node] = list(reversed(node.body))
    while stack:
        n = stack.pop()
        if isinstance(n, ir.TaskNode):
            return attrs.evolve(doc.task(n.task), retry=ir.RetryPolicy(), timeout=None)
        if isinstance(n, ir.SubWorkflowNode):
            stack.extend(reversed(doc.subworkflow(n.workflow).nodes))
        elif isinstance(n, ir.MapNode | ir.ExitHandlerNode):
            stack.extend(reversed(n.body))
        elif isinstance(n, ir.ConditionalNode):
            stack.extend(x for br in reversed(n.branches) for x in reversed(br.nodes))
    return attrs.evolve(doc.tasks[0], retry=ir.RetryPolicy(), timeout=None)


def step(
    op: str,
    fields: dict[str, Any],
    *,
    name: str,
    result_key: str,
    job_key: Any,
    run: str,
    template: ir.TaskTemplate,
    doc: ir.WorkflowIR,
    opts: Options,
    graph: Graph,
) -> tuple[Fragment, str]:
    """One of the two worker steps, through ``template``'s executor: (fragment, JSONPath of its outputs)."""
    kind = opts.executor_of(template.name)
    head = {"v": PROTOCOL_VERSION, "op": op, "ir": doc.digest, "run.$": run}
    request = route({**head, **obj(fields)}, job_key, kind, opts)
    call = Call(name, template, request, result_key, job_key)
    frag, outputs, states = emit(call, kind, opts, graph)
    for s in states:
        s.comment = f"map_over {op}: {'its items to S3' if op == ITEMS else 'its results from S3, in item order'}"
    return frag, outputs


def items_fields(spec: Any, whole: bool, opts: Options) -> dict[str, Any]:
    return {"items": spec, "whole": whole, "offload": opts.offload_threshold}


def results_fields(
    manifest: str,
    staged: str,
    index_key: str,
    node: ir.MapNode,
    kept: tuple[tuple[str, ...], tuple[str, ...]],
    opts: Options,
) -> dict[str, Any]:
    inline, each = kept
    return {
        "manifest": Path(manifest),
        "count": Path(staged + ".n"),
        "index": index_key,
        "share": node.tolerated_failure,
        "inline": list(inline),
        "elementwise": list(each),
        "offload": opts.offload_threshold,
    }


def reader(bucket: str, staged: str) -> JSON:
    """``ItemReader``: the JSON array the items step wrote."""
    return {
        "Resource": S3_GET_OBJECT,
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": bucket, "Key.$": staged + ".Key"},
    }


def writer(bucket: str, prefix: str) -> JSON:
    """``ResultWriter``: under ``<prefix>/maps/`` (Step Functions adds the map run's id, unique per run). A constant:
    where its ``Parameters`` read ``$`` differs between engines (the state's input, or the map's results)."""
    return {
        "Resource": S3_PUT_OBJECT,
        "Parameters": {"Bucket": bucket, "Prefix": "/".join(p for p in (prefix, "maps") if p)},
    }


def map_state(
    name: str,
    node: ir.MapNode,
    *,
    selector: JSON,
    processor: JSON,
    bucket: str,
    prefix: str,
    staged: str,
    result_path: str,
) -> MapState:
    return MapState(
        name,
        items_path=None,
        item_reader=reader(bucket, staged),
        result_writer=writer(bucket, prefix),
        item_selector=selector,
        processor=processor,
        max_concurrency=node.max_concurrency,
        distributed=True,
        tolerated_failure_percentage=tolerated_percentage(node.tolerated_failure) if node.tolerated_failure else None,
        result_selector={"w.$": "$.ResultWriterDetails"},
        result_path=result_path,
        comment="items read from S3, results written to S3 (each item a child execution)",
    )
