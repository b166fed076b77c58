"""AWS Step Functions target: IR → ASL, task executors (SQS worker, ECS, Batch, Lambda), deploy.

Nothing here imports boto3; the deploy, start and worker commands import it when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from typedflow import ir
from typedflow.backend import Backend
from typedflow.util.gcpause import gc_paused


@gc_paused
def compile_workflow(doc: ir.WorkflowIR, options: dict[str, Any]) -> str:
    """The ASL definition of ``doc`` (canonical JSON text; pure and deterministic)."""
    from .compiler import compile_definition, render
    from .options import from_mapping

    opts = from_mapping(options)
    shipment = options.get("shipment")
    if shipment is not None:
        kinds = {opts.executor_of(t.name) for t in doc.tasks}
        for note in shipment.plan.notes if kinds & {"ecs", "batch"} else ():
            print(f"typedflow compile: note: {note}", file=sys.stderr)
    return render(compile_definition(doc, opts))


@gc_paused
def compile_files(doc: ir.WorkflowIR, options: dict[str, Any]) -> dict[str, str]:
    """``compile -o DIR``: one ``<state machine>.asl.json`` per state machine (the first is the one to start)."""
    from .compiler import compile_texts
    from .options import from_mapping

    return {f"{name}.asl.json": text for name, text in compile_texts(doc, from_mapping(options))}


def _add_options(p: argparse.ArgumentParser) -> None:
    from .options import add_options

    add_options(p)


def _aws(command: str, run: Callable[[], int]) -> int:
    """An AWS call that fails (no credentials, access denied, no such queue) is one line on stderr."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # the command itself says that the aws extra is needed
        return run()
    try:
        return run()
    except (BotoCoreError, ClientError) as exc:
        print(f"typedflow {command}: AWS: {exc}", file=sys.stderr)
        return 1


def _deploy(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    from .deploy import deploy_command

    return _aws("deploy", lambda: deploy_command(doc, args))


def _add_deploy_options(p: argparse.ArgumentParser) -> None:
    from .deploy import add_deploy_options

    add_deploy_options(p)


def _start(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    from .deploy import start_command

    return _aws("start", lambda: start_command(doc, args))


def _add_start_options(p: argparse.ArgumentParser) -> None:
    from .deploy import add_start_options

    add_start_options(p)


def _runs(args: argparse.Namespace) -> Any:
    from .runs import ops

    return ops(args)


def _add_runs_options(p: argparse.ArgumentParser) -> None:
    from .runs import add_runs_options

    add_runs_options(p)


def _worker(args: argparse.Namespace) -> int:
    from .worker import worker_command

    return _aws("worker", lambda: worker_command(args))


def _add_worker_options(p: argparse.ArgumentParser) -> None:
    from .worker import add_worker_options

    add_worker_options(p)


BACKEND = Backend(
    name="stepfunctions",
    description="AWS Step Functions state machine (ASL JSON)",
    compile=compile_workflow,
    add_options=_add_options,
    default_suffix=".asl.json",
    deploy=_deploy,
    add_deploy_options=_add_deploy_options,
    start=_start,
    add_start_options=_add_start_options,
    worker=_worker,
    add_worker_options=_add_worker_options,
    ships_code=True,
    runs=_runs,
    add_runs_options=_add_runs_options,
    compile_files=compile_files,
)

__all__ = ["BACKEND", "compile_workflow"]
