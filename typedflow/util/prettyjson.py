"""Indented JSON at the speed of the C encoder.

``pretty(obj)`` is byte for byte ``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False,
allow_nan=...)``: the pure-Python encoder that ``indent`` selects walks every value in Python (and
recurses once per level), so large documents (the IR, a state machine, a pipeline spec of 10,000 tasks)
are encoded compactly by the C encoder instead and then indented in one pass over the text between
strings and scalars, whose few distinct forms (``:{``, ``},``, ``]}`` ...) are indented once per
nesting level. A property test holds it to ``json.dumps``.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# a string (escapes included) or a scalar: what lies between them is structure alone
_TOKEN = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*"|[^"{}\[\],:]+)')
_INDENT = 2


def pretty(obj: Any, *, allow_nan: bool = True) -> str:
    """``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=allow_nan)``."""
    compact = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)
    pieces = _TOKEN.split(compact)  # structure at even places, strings and scalars at odd ones
    between = pieces[0::2]
    deltas = {t: t.count("{") + t.count("[") - t.count("}") - t.count("]") for t in set(between)}
    starts = accumulate(map(deltas.__getitem__, between), initial=0)  # one more than there are pieces
    keys = list(zip(between, starts, strict=False))
    indented = {key: _indent(*key) for key in set(keys)}  # a few dozen forms
    pieces[0::2] = map(indented.__getitem__, keys)
    return "".join(pieces)


def _indent(piece: str, depth: int) -> str:
    """The indented form of ``piece`` (structure between two tokens of the compact form) entered at
    ``depth``."""
    out: list[str] = []
    i, n = 0, len(piece)
    while i < n:
        c = piece[i]
        if c in "{[":
            close = "}" if c == "{" else "]"
            if i + 1 < n and piece[i + 1] == close:  # an empty container stays on its line
                out.append(c + close)
                i += 2
                continue
            depth += 1
            out.append(c + "\n" + " " * (_INDENT * depth))
        elif c in "}]":
            depth -= 1
            out.append("\n" + " " * (_INDENT * depth) + c)
        elif c == ",":
            out.append(",\n" + " " * (_INDENT * depth))
        elif c == ":":
            out.append(": ")
        else:
            out.append(c)
        i += 1
    return "".join(out)


__all__ = ["pretty"]
