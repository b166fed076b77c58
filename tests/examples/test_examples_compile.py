"""Every example compiles to every installed target; the ``ir`` target round-trips exactly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from typedflow.backend import Backend, available
from typedflow.cli import main
from typedflow.cli.loader import load_workflow
from typedflow.ir.codec import loads

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECS = ["train_tabular.py:train_tabular", "sweep.py:sweep", "finetune_data.py:finetune_data", "nightly.py:nightly"]
TARGETS = sorted(available())


def test_ir_target_is_installed() -> None:
    assert "ir" in TARGETS


def default_options(backend: Backend) -> dict[str, Any]:
    """The options ``typedflow compile --target NAME`` passes when no target flags are given."""
    parser = argparse.ArgumentParser()
    if backend.add_options is not None:
        backend.add_options(parser)
    return {**vars(parser.parse_args([])), "output": None}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", SPECS)
def test_compiles(spec: str, target: str) -> None:
    backend = available()[target]
    doc = load_workflow(f"{EXAMPLES / spec}").ir
    text = backend.compile(doc, default_options(backend))
    assert text.strip()
    assert backend.compile(doc, default_options(backend)) == text  # compile is deterministic
    if backend.default_suffix == ".json":
        json.loads(text)
    elif backend.default_suffix in (".yaml", ".yml"):
        yaml = pytest.importorskip("yaml")
        assert list(yaml.safe_load_all(text))
    if target == "ir":
        assert loads(text) == doc


def test_compile_cli_writes_the_ir(tmp_path: Path) -> None:
    out = tmp_path / "train_tabular.json"
    assert main(["compile", f"{EXAMPLES / SPECS[0]}", "--target", "ir", "-o", str(out)]) == 0
    assert loads(out.read_text("utf-8")) == load_workflow(f"{EXAMPLES / SPECS[0]}").ir
