"""Comparing typed-JSON values across targets."""

from __future__ import annotations

from typing import Any


def without_uris(v: Any) -> Any:
    """Typed JSON with files by content (sha256) and format only: each target stores them elsewhere."""
    if isinstance(v, dict):
        return {k: without_uris(x) for k, x in v.items() if k != "uri"}
    if isinstance(v, list):
        return [without_uris(x) for x in v]
    return v
