"""typedflow: typed ML workflows, checked at definition time, one IR for every target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typedflow import _checkout
from typedflow._version import __version__
from typedflow.dsl.blocks import after, exit_handler, fail, map_over, one_of, orwhen, otherwise, when
from typedflow.dsl.environment import Environment
from typedflow.dsl.failure import Failure
from typedflow.dsl.secret import Secret
from typedflow.dsl.tasks import Resources, Retry, Task, task
from typedflow.dsl.workflows import Workflow, workflow
from typedflow.errors import TaskDefinitionError, TypedflowError, WorkflowDefinitionError, WorkflowFailedError
from typedflow.files import TypedDirectory, TypedFile
from typedflow.formats import Format
from typedflow.runtime.context import RunContext, current_run

if TYPE_CHECKING:
    from typedflow.runtime.running import RunResult

_checkout.attach(__file__)


def run(wf: Workflow[Any, Any], /, **inputs: Any) -> RunResult:
    """Run ``wf`` on the local interpreter; see :func:`typedflow.runtime.running.run` for options."""
    from typedflow.runtime.running import run as _run

    return _run(wf, **inputs)


__all__ = [
    "Environment",
    "Failure",
    "Format",
    "Resources",
    "Retry",
    "RunContext",
    "Secret",
    "Task",
    "TaskDefinitionError",
    "TypedDirectory",
    "TypedFile",
    "TypedflowError",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowFailedError",
    "__version__",
    "after",
    "current_run",
    "exit_handler",
    "fail",
    "map_over",
    "one_of",
    "orwhen",
    "otherwise",
    "run",
    "task",
    "when",
    "workflow",
]
