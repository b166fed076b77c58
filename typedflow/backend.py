"""The backend contract: a named target that compiles IR to a document, found by entry point."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import attrs

from typedflow import ir


@attrs.frozen
class Backend:
    """A compilation target. ``compile`` is pure: IR + options → document text (deterministic)."""

    name: str
    description: str
    compile: Callable[[ir.WorkflowIR, dict[str, Any]], str]
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    default_suffix: str = ".json"


def available() -> dict[str, Backend]:
    """Installed backends by name (entry-point group ``typedflow.backends``)."""
    found: dict[str, Backend] = {}
    for ep in entry_points(group="typedflow.backends"):
        try:
            backend = ep.load()
        except ImportError:  # an optional dependency is missing; the target is not offered
            continue
        found[ep.name] = backend
    return dict(sorted(found.items()))
