"""A log's signed checkpoints as exports carry them: read once, looked up by the record they cover."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typedflow.lineage.verify_bundle import parse_checkpoint

__all__ = ["Checkpoints", "read_checkpoints"]


class Checkpoints:
    """A log's signed checkpoints (parsed lines of ``log.jsonl.checkpoints``), by the records they cover."""

    def __init__(self, lines: Sequence[dict[str, Any]]) -> None:
        spans = sorted((int(c["from"]), int(c["seq"]), i) for i, c in enumerate(lines) if c["from"] <= c["seq"])
        self._starts = [a for a, _, _ in spans]
        self._spans = spans
        self._lines = list(lines)

    def covering(self, seq: int) -> dict[str, Any] | None:
        """The checkpoint whose signer appended record ``seq``, if any."""
        k = bisect.bisect_right(self._starts, seq) - 1
        if k >= 0 and self._spans[k][1] >= seq:
            return self._lines[self._spans[k][2]]
        return None


def read_checkpoints(log: Path) -> Checkpoints | None:
    """The checkpoints beside ``log``, None when it has none. Lines that are not checkpoints (a torn last line)
    are left out: exports carry what is there, and ``lineage verify`` reports the rest."""
    path = log.with_name(log.name + ".checkpoints")
    try:
        lines = path.read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return None
    parsed = []
    for raw in lines:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(parse_checkpoint(data), str):
            parsed.append(data)
    return Checkpoints(parsed)
