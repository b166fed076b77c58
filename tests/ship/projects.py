"""Throwaway projects for shipping tests: a folder with a workflow module under a name no other test
uses, imported as ``typedflow deploy`` would import it, and its shipment (bundle and image plan)."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from typedflow.cli.loader import load_workflow
from typedflow.dsl.registry import forget_module
from typedflow.shipping.cli import Shipment, shipment

ROOT = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write_project(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return folder


def load(folder: Path, module: str, workflow: str, registry: str | None = None) -> tuple[Any, Shipment]:
    """Import ``folder/module.py`` afresh (forgetting an earlier module of that name) and ship it."""
    forget(module)
    wf = load_workflow(f"{folder / (module + '.py')}:{workflow}")
    args = argparse.Namespace(code_root=None, no_bundle=False, registry=registry, ir=None)
    return wf, shipment(args, wf.ir)


def forget(*modules: str) -> None:
    for name in modules:
        mod = sys.modules.pop(name, None)
        if mod is not None and getattr(mod, "__file__", None):
            folder = str(Path(mod.__file__).parent)  # type: ignore[arg-type]
            while folder in sys.path:
                sys.path.remove(folder)
        forget_module(name)


def corpus_source(module: str) -> str:
    """The Step Functions test corpus (tests/stepfunctions/sfn_flows.py) as a module of its own."""
    return (ROOT / "tests" / "stepfunctions" / "sfn_flows.py").read_text()
