"""typedflow conditions → CEL expressions over a condition task's input parameters.

Vertex evaluates ``triggerPolicy.condition`` with CEL, where every number is a double (a
``google.protobuf.Value``); so numeric literals are written as doubles and never cast. Ordering
comparisons on optional operands are guarded, because typedflow defines them as false on null.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from typedflow import ir

Operand = Callable[[ir.Binding], tuple[str, ir.TypeRef]]
"""Resolves a reference to (CEL expression of its value, its type)."""

_ORDERING = {"<", "<=", ">", ">="}


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, str):
        return "'" + "".join(_escape(c) for c in value) + "'"
    return json.dumps(value)


def _escape(c: str) -> str:
    """One character inside a single-quoted CEL string: a quote, a backslash and the control characters
    (a quoted CEL string has no raw newline) escaped; \\x is the same escape in CEL and in Python."""
    if c in "\\'":
        return "\\" + c
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\x{ord(c):02x}"
    return c


def parameter(channel: str, path: tuple[str, ...] = ()) -> str:
    return f"inputs.parameter_values['{channel}']" + "".join(f"['{p}']" for p in path)


class MixedComparison(ValueError):
    """A comparison CEL cannot make as Python does: a bool with a number (``flag == 1``)."""


def _family(v: Any, t: ir.TypeRef | None) -> str:
    if t is None:
        return "bool" if isinstance(v, bool) else "number" if isinstance(v, int | float) else ""
    while t.kind == "optional":
        t = t.args[0]
    if t.kind == "bool":
        return "bool"
    return "number" if t.kind in ("int", "float") or (t.kind == "enum" and t.flavor == "int") else ""


def _side(b: ir.Binding, operand: Operand) -> tuple[str, bool, str]:
    if isinstance(b, ir.Const):
        return literal(b.value), b.value is None, _family(b.value, None)
    expr, t = operand(b)
    return expr, t.kind in ("optional", "none"), _family(None, t)


def to_cel(c: ir.Condition, operand: Operand) -> str:
    """Raises MixedComparison for a bool compared with a number: Python's ``True == 1`` holds, while CEL
    has no such overload (or, with heterogeneous equality, says false)."""
    if isinstance(c, ir.Compare):
        left, lnull, lfam = _side(c.left, operand)
        right, rnull, rfam = _side(c.right, operand)
        if {lfam, rfam} == {"bool", "number"}:
            raise MixedComparison(f"a condition compares a bool with a number ({c.op}); compare it with True or False")
        expr = f"{left} {c.op} {right}"
        if c.op in _ORDERING:
            guards = [f"{s} != null" for s, maybe in ((left, lnull), (right, rnull)) if maybe]
            if guards:
                return "(" + " && ".join([*guards, expr]) + ")"
        return expr
    if isinstance(c, ir.And):
        return "(" + " && ".join(to_cel(t, operand) for t in c.terms) + ")"
    if isinstance(c, ir.Or):
        return "(" + " || ".join(to_cel(t, operand) for t in c.terms) + ")"
    return f"!({to_cel(c.term, operand)})"


def branch_condition(own: str | None, earlier: list[str]) -> str:
    """A branch runs when its own condition holds and no earlier branch's did."""
    parts = [f"!({e})" for e in earlier]
    if own is not None:
        parts.append(own)
    return " && ".join(parts)
