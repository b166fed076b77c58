"""Vertex AI Pipelines (KFP v2 PipelineSpec) target.

``typedflow compile --target vertex -o pipeline.yaml`` writes the spec; ``typedflow deploy
--target vertex`` submits it. google-cloud-aiplatform is imported only when deploying.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from typedflow import ir
from typedflow.backend import Backend
from typedflow.util.gcpause import gc_paused


@gc_paused
def _compile(doc: ir.WorkflowIR, options: dict[str, Any]) -> str:
    from .compiler import compile_text

    return compile_text(doc, options)


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image",
        metavar="IMAGE",
        help="container image for tasks without @task(image=...) (default python:X.Y of the IR)",
    )


def _deploy(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    from .deploy import deploy_command

    try:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
    except ImportError:  # the command itself says that the vertex extra is needed
        return int(deploy_command(doc, args))
    try:
        return int(deploy_command(doc, args))
    except (GoogleAuthError, GoogleAPIError) as exc:  # no credentials, permission denied, ...
        print(f"typedflow deploy: Google Cloud: {exc}", file=sys.stderr)
        return 1


def _google(command: str, run: Any) -> int:
    """A Google Cloud call that fails (no credentials, permission denied) is one line on stderr."""
    try:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        return int(run())
    try:
        return int(run())
    except (GoogleAuthError, GoogleAPIError) as exc:
        print(f"typedflow {command}: Google Cloud: {exc}", file=sys.stderr)
        return 1


def _start(doc: ir.WorkflowIR, args: argparse.Namespace) -> int:
    from .runs import start_command

    return _google("start", lambda: start_command(doc, args))


def _add_start_options(p: argparse.ArgumentParser) -> None:
    from .runs import add_start_options

    add_start_options(p)


def _runs(args: argparse.Namespace) -> Any:
    from .runs import ops

    return ops(args)


def _add_runs_options(p: argparse.ArgumentParser) -> None:
    from .runs import add_runs_options

    add_runs_options(p)


def _add_deploy_options(p: argparse.ArgumentParser) -> None:
    from .deploy import add_deploy_options

    add_deploy_options(p)


BACKEND = Backend(
    name="vertex",
    description="Vertex AI Pipelines (KFP v2 PipelineSpec)",
    compile=_compile,
    add_options=_add_options,
    default_suffix=".yaml",
    deploy=_deploy,
    add_deploy_options=_add_deploy_options,
    start=_start,
    add_start_options=_add_start_options,
    ships_code=True,
    runs=_runs,
    add_runs_options=_add_runs_options,
)
