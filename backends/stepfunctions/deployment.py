"""What ``deploy`` writes on a state machine (its workflow, store and IR), read back by ``start`` and
``typedflow runs``: its tags, else the task requests in its definition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from typedflow import ir

from .protocol import REQUEST_KEY

TAG_WORKFLOW: Final = "typedflow:workflow"
TAG_BUCKET: Final = "typedflow:bucket"
TAG_IR: Final = "typedflow:ir"


def deployment_tags(doc: ir.WorkflowIR, bucket: str) -> list[dict[str, str]]:
    """What ``deploy`` writes on the state machine, for ``start`` and ``runs`` to read back."""
    return [
        {"key": TAG_WORKFLOW, "value": doc.workflow.name[:256]},
        {"key": TAG_BUCKET, "value": bucket[:256]},
        {"key": TAG_IR, "value": doc.digest},
    ]


def read_tags(sfn: Any, arn: str) -> dict[str, str]:
    try:
        tags = sfn.list_tags_for_resource(resourceArn=arn).get("tags", [])
    except Exception:  # no permission to read tags: the definition still says what is needed
        return {}
    return {str(t.get("key")): str(t.get("value")) for t in tags}


def task_requests(value: Any) -> Iterator[dict[str, Any]]:
    """The typedflow task requests inside a definition (or a TaskScheduled event's parameters)."""
    if isinstance(value, dict):
        inner = value.get(REQUEST_KEY)
        if isinstance(inner, dict) and ("ir" in inner or "node" in inner or "node.$" in inner):
            yield inner
        for v in value.values():
            yield from task_requests(v)
    elif isinstance(value, list):
        for v in value:
            yield from task_requests(v)
    elif isinstance(value, str) and value.startswith("{") and '"ir"' in value:
        try:
            yield from task_requests(json.loads(value))
        except ValueError:
            return


def deployed(sfn: Any, arn: str, definition: str | None = None) -> tuple[str | None, str | None]:
    """(store URI, IR digest) of a state machine: its tags, else its definition's task requests. With
    ``definition`` (the version an execution ran), that definition's requests come first."""
    tags = read_tags(sfn, arn)
    bucket, digest = tags.get(TAG_BUCKET), tags.get(TAG_IR)
    if definition is None and bucket and digest:
        return bucket, digest
    if definition is None:
        definition = str(sfn.describe_state_machine(stateMachineArn=arn).get("definition") or "{}")
    for req in task_requests(json.loads(definition)):
        if isinstance(req.get("ir"), str):
            return (req.get("store") if isinstance(req.get("store"), str) else None) or bucket, req["ir"]
    return bucket, digest
