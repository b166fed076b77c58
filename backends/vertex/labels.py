"""The labels ``deploy`` puts on a pipeline's template and jobs (its workflow and IR), which ``start``
and ``typedflow runs`` filter and check by."""

from __future__ import annotations

import re
from typing import Final

from typedflow import ir

LABEL_WORKFLOW: Final = "typedflow-workflow"
LABEL_IR: Final = "typedflow-ir"


def label_value(text: str) -> str:
    """A Vertex label value: lowercase letters, digits, - and _, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63] or "-"


def deployment_labels(doc: ir.WorkflowIR) -> dict[str, str]:
    return {LABEL_WORKFLOW: label_value(doc.workflow.name), LABEL_IR: doc.digest.removeprefix("sha256:")[:16]}
