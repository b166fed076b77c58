"""The backend contract: a named target that compiles IR to a document, found by entry point.

A backend is data: a pure ``compile`` function and, optionally, a thin deploy layer and extra
CLI commands. The core never imports a cloud SDK; backends import theirs lazily.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from typedflow import ir

if TYPE_CHECKING:
    from typedflow.cli.runops import Logs, RunDetail, RunOutcome, RunSummary, Started

CompileFn = Callable[[ir.WorkflowIR, dict[str, Any]], str]
CompileFilesFn = Callable[[ir.WorkflowIR, dict[str, Any]], dict[str, str]]
CommandFn = Callable[[ir.WorkflowIR, argparse.Namespace], int]


class RunOps(Protocol):
    """A target's runs, for ``typedflow runs``: made by ``Backend.runs(args)`` from the command's options.
    Each method raises :class:`typedflow.cli.runops.RunNotFound` for an unknown run id and
    :class:`typedflow.cli.runops.RunOpError` when the operation does not apply to the run."""

    def list(self, workflow: str | None, status: str | None, limit: int) -> list[RunSummary]:
        """Newest first; ``workflow``: a workflow name (or deployment name) to keep."""
        ...

    def show(self, run_id: str) -> RunDetail: ...

    def outcome(self, run_id: str) -> RunOutcome:
        """A finished run's outputs or failure (RunOpError while it runs)."""
        ...

    def logs(self, run_id: str, node: str | None) -> Logs: ...

    def cancel(self, run_id: str) -> Started: ...

    def retry(self, run_id: str) -> Started:
        """Go on from the failure: finished tasks are not run again (resume, redrive, or a new run whose
        finished tasks are cache hits)."""
        ...


RunOpsFn = Callable[[argparse.Namespace], RunOps]


@attrs.frozen
class Backend:
    """A target. ``compile(ir, options) -> text`` is pure and deterministic; ``options`` are the
    parsed target options (``vars(args)`` of the flags ``add_options`` declared, plus ``output``:
    the ``-o`` path or None)."""

    name: str
    description: str
    compile: CompileFn
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    default_suffix: str = ".json"
    deploy: CommandFn | None = None
    add_deploy_options: Callable[[argparse.ArgumentParser], None] | None = None
    start: CommandFn | None = None
    add_start_options: Callable[[argparse.ArgumentParser], None] | None = None
    worker: Callable[[argparse.Namespace], int] | None = None
    add_worker_options: Callable[[argparse.ArgumentParser], None] | None = None
    # compile and deploy bundle the workflow's code and plan its images (``options["shipment"]``)
    ships_code: bool = False
    # ``typedflow runs --target NAME``: the target's runs, and the flags that say where they are
    runs: RunOpsFn | None = None
    add_runs_options: Callable[[argparse.ArgumentParser], None] | None = None
    # ``compile -o DIR``: the documents of a workflow that compiles to several (file name -> text)
    compile_files: CompileFilesFn | None = None


def available() -> dict[str, Backend]:
    """Installed backends by name (entry-point group ``typedflow.backends``)."""
    found: dict[str, Backend] = {}
    for ep in entry_points(group="typedflow.backends"):
        try:
            backend = ep.load()
        except (ImportError, AttributeError):  # an optional dependency is missing: not offered
            continue
        found[ep.name] = backend
    return dict(sorted(found.items()))
