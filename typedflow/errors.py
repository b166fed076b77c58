"""Errors that carry the user's ``file:line`` and render the way mypy does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from typedflow.ir import SourceLoc


@attrs.frozen
class Problem:
    """One definition-time error: where, what, and a short machine code."""

    loc: SourceLoc
    message: str
    code: str

    def render(self) -> str:
        return f"{self.loc}: error: {self.message}  [{self.code}]"


class TypedflowError(Exception):
    """Base of typedflow's own errors."""


class WorkflowDefinitionError(TypedflowError):
    """Every wiring error found while tracing a workflow, each with its ``file:line``."""

    def __init__(self, workflow: str, problems: Sequence[Problem]) -> None:
        self.workflow = workflow
        self.problems = tuple(problems)
        lines = [p.render() for p in self.problems]
        n = len(lines)
        head = f"workflow {workflow!r} has {n} error{'s' if n != 1 else ''}:"
        super().__init__("\n".join([head, *lines]))


class TaskDefinitionError(TypedflowError):
    """A task whose signature cannot be typed (unannotated parameter, unsupported type...)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class IRValidationError(TypedflowError):
    """A serialized IR document that does not match ``ir.schema.json`` or its own invariants."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"invalid IR at {path}: {reason}")


class InputError(TypedflowError):
    """A workflow input that does not match its declared type."""


class RunInterrupted(TypedflowError):
    """A local run stopped by SIGINT or SIGTERM before it ended; its journal is left resumable.

    ``abandoned``: the node instances that were still running when the run stopped waiting for them
    (they run again when the run is resumed)."""

    def __init__(self, run_id: str, signal: str, abandoned: Sequence[str] = ()) -> None:
        self.run_id = run_id
        self.signal = signal
        self.abandoned = tuple(abandoned)
        super().__init__(f"run {run_id} stopped by {signal}")


class WorkflowFailedError(TypedflowError):
    """A workflow called as a function (outside any workflow) ran locally and failed."""

    def __init__(self, workflow: str, run_id: str, failures: Sequence[Any]) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.failures = tuple(failures)  # the failed nodes' reports: key, task, error, traceback
        first = self.failures[0] if self.failures else None
        what = (
            f"node {first.key} (task {first.task}) failed after {first.attempts} attempt(s): "
            f"{first.error_type}: {first.message}"
            if first is not None
            else "it failed"
        )
        more = f" (and {len(self.failures) - 1} more failed node(s))" if len(self.failures) > 1 else ""
        super().__init__(f"workflow {workflow!r}, run {run_id}: {what}{more}")


class SecretUnavailableError(Exception):
    """A secret's reference cannot be resolved here (a variable not set, a file missing...)."""


class UnsupportedType(TypeError):
    """An annotation typedflow cannot carry across a process boundary."""
