"""Indented JSON at the speed of the C encoder.

``pretty(obj)`` is byte for byte ``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False,
allow_nan=...)``. The pure-Python encoder that ``indent`` selects walks every value in Python (and
recurses once per level), so large documents (the IR, a state machine, a pipeline spec of 10,000 tasks)
are encoded compactly by the C encoder instead, which decides every string, number and key order, and
then indented by ``msgspec.json.format``, which only adds whitespace between the tokens (in C). A property
test holds it to ``json.dumps``.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec


def compact(obj: Any, *, allow_nan: bool = True) -> str:
    """``obj`` as compact JSON with sorted keys: what :func:`indented` indents."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)


def indented(text: str, obj: Any, *, allow_nan: bool = True) -> str:
    """:func:`pretty` of ``obj`` from its :func:`compact` ``text`` (made once for something else too)."""
    try:
        return msgspec.json.format(text, indent=2)
    except (msgspec.DecodeError, UnicodeEncodeError):  # NaN, Infinity or a lone surrogate: only json.dumps takes them
        return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=allow_nan)


def pretty(obj: Any, *, allow_nan: bool = True) -> str:
    """``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=allow_nan)``."""
    return indented(compact(obj, allow_nan=allow_nan), obj, allow_nan=allow_nan)


__all__ = ["compact", "indented", "pretty"]
