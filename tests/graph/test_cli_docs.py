"""docs/cli.md is exactly what docs/gen_cli.py generates from the CLI's own parser."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typedflow_docs_gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_is_up_to_date() -> None:
    expected = _generator().render()
    actual = (DOCS / "cli.md").read_text("utf-8")
    assert actual == expected, "docs/cli.md is stale: run `python docs/gen_cli.py`"


def test_cli_reference_covers_every_command() -> None:
    from typedflow.cli import build_parser

    text = (DOCS / "cli.md").read_text("utf-8")
    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices).choices
    assert commands is not None
    for name in commands:
        assert f"\n## typedflow {name}\n" in text
    assert "typedflow graph [-h]" in text
