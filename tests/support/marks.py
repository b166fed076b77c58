"""Folders where handlers in test workflows leave what they received, one JSON file per call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def marks_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    return d


def seen(marks: Path) -> dict[str, Any]:
    """What each handler left, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(marks.iterdir())}
