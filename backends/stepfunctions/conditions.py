"""IR conditions → Choice rules that compare the actual values, with the local interpreter's null
semantics: a reference into a branch that did not run is null; ``==``/``!=`` treat null as a value;
an ordering comparison with null is false. A ``one_of()`` operand is compared option by option, each
under the rule that its branch is the one that ran (recorded by its when chain, as the runtime picks it)."""

from __future__ import annotations

from typing import Any

from typedflow import ir

from .analysis import ChoiceRef, ConstRef, Ctx, Ref, Resolved
from .graph import DefinitionError
from .paths import Frame, concrete

Rule = dict[str, Any]

TRUE: Rule = {"Variable": "$", "IsPresent": True}
FALSE: Rule = {"Not": TRUE}

_FAMILY = {
    "int": "Numeric",
    "float": "Numeric",
    "str": "String",
    "enum": "String",
    "datetime": "String",
    "date": "String",
    "bool": "Boolean",
}
_SUFFIX = {"==": "Equals", "<": "LessThan", "<=": "LessThanEquals", ">": "GreaterThan", ">=": "GreaterThanEquals"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_TYPE_TEST = {"Numeric": "IsNumeric", "String": "IsString", "Boolean": "IsBoolean"}


def _kind(t: ir.TypeRef) -> str:
    """The kind a comparison sees: an enum of int values is compared as the int it is in typed JSON."""
    return "int" if t.kind == "enum" and t.flavor == "int" else t.kind


def _and(*rules: Rule) -> Rule:
    rs = [r for r in rules if r is not TRUE]
    if any(r is FALSE for r in rs):
        return FALSE
    return rs[0] if len(rs) == 1 else ({"And": rs} if rs else TRUE)


def _or(*rules: Rule) -> Rule:
    rs = [r for r in rules if r is not FALSE]
    if any(r is TRUE for r in rs):
        return TRUE
    return rs[0] if len(rs) == 1 else ({"Or": rs} if rs else FALSE)


def _not(rule: Rule) -> Rule:
    if rule is TRUE:
        return FALSE
    if rule is FALSE:
        return TRUE
    return {"Not": rule}


class _Side:
    def __init__(self, r: Resolved, frame: Frame, where: str) -> None:
        self.const = isinstance(r, ConstRef)
        self.value = r.value if isinstance(r, ConstRef) else None
        if isinstance(r, Ref):
            if r.kind in ("failure",):
                raise DefinitionError([f"{where}: a condition cannot read the failure"])
            self.path, self.nullable = concrete(r, frame)
            self.kind = _kind(r.type)
        elif isinstance(r, ConstRef):
            self.path, self.nullable, self.kind = "", self.value is None, _kind(r.type)
        elif isinstance(r, ChoiceRef):  # compared option by option (see alternatives)
            raise AssertionError("a one_of() operand has no single side")
        else:
            raise DefinitionError([f"{where}: a condition cannot compare a whole NamedTuple"])

    def is_null(self) -> Rule:
        if self.const:
            return TRUE if self.value is None else FALSE
        if not self.nullable:
            return FALSE
        return _or(_not({"Variable": self.path, "IsPresent": True}), {"Variable": self.path, "IsNull": True})

    def present(self) -> Rule:
        return _not(self.is_null())


NULL = ConstRef(None, ir.TypeRef("none"))


def both(*rules: Rule) -> Rule:
    """The And of ``rules``, simplified, with the terms of an And among them taken in."""
    return _and(*(t for r in rules for t in (r["And"] if set(r) == {"And"} else [r])))


def alternatives(r: Resolved, frame: Frame, where: str) -> list[tuple[Rule, _Side]]:
    """The values an operand may have, each with the rule under which it is the value: one for a plain
    reference; for a ``one_of()``, each option where its branch is the one its chain recorded, and null
    where the chain recorded none (it did not run). The rules exclude each other, so a comparison is the
    Or of each value's; an option may still be null where its branch ran."""
    if not isinstance(r, ChoiceRef):
        return [(TRUE, _Side(r, frame, where))]
    chain = _Side(r.chain, frame, where)
    out: list[tuple[Rule, _Side]] = []
    for branch, option in zip(r.branches, r.options, strict=True):
        ran = _and(chain.present(), {"Variable": chain.path, "NumericEquals": branch})
        for guard, side in alternatives(option, frame, where):
            when = both(ran, guard)
            if when is not FALSE:
                out.append((when, side))
    out.append((chain.is_null(), _Side(NULL, frame, where)))
    return out


def _family(left: _Side, right: _Side, where: str) -> str:
    kinds = {k for k in (left.kind, right.kind) if k not in ("any", "none")}
    fams = {_FAMILY.get(k, "?") for k in kinds}
    if "?" in fams or len(fams) > 1:
        raise DefinitionError(
            [
                f"{where}: Step Functions can only compare numbers, strings and booleans "
                f"(got {left.kind} and {right.kind})"
            ]
        )
    return fams.pop() if fams else ""


def _compare(op: str, left: _Side, right: _Side, family: str, where: str) -> Rule:
    """The rule for ``left op right`` with both sides known to be non-null."""
    if left.const and right.const:
        return TRUE if _py(op, left.value, right.value) else FALSE
    if left.const:
        return _compare(_FLIP[op], right, left, family, where)
    if family == "Boolean" and op not in ("==",):
        raise DefinitionError([f"{where}: booleans can only be compared with == and !="])
    if not family:  # both sides untyped: test the actual type
        alts = [
            _and({"Variable": left.path, test: True}, _compare(op, left, right, fam, where))
            for fam, test in _TYPE_TEST.items()
            if not (fam == "Boolean" and op != "==")
        ]
        return _or(*alts)
    rule: Rule = {"Variable": left.path}
    if right.const:
        rule[family + _SUFFIX[op]] = right.value
    else:
        rule[family + _SUFFIX[op] + "Path"] = right.path
    guards = [{"Variable": s.path, _TYPE_TEST[family]: True} for s in (left, right) if not s.const and s.kind == "any"]
    return _and(*guards, rule)


def _py(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if a is None or b is None:
        return False
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def rule(c: ir.Condition, ctx: Ctx, frame: Frame, where: str) -> Rule:
    if isinstance(c, ir.And):
        return _and(*(rule(t, ctx, frame, where) for t in c.terms))
    if isinstance(c, ir.Or):
        return _or(*(rule(t, ctx, frame, where) for t in c.terms))
    if isinstance(c, ir.Not):
        return _not(rule(c.term, ctx, frame, where))
    lefts = alternatives(ctx.resolve(c.left), frame, where)
    rights = alternatives(ctx.resolve(c.right), frame, where)
    return _or(*(_and(gl, gr, _holds(c.op, left, right, where)) for gl, left in lefts for gr, right in rights))


def _holds(op: str, left: _Side, right: _Side, where: str) -> Rule:
    """The rule for ``left op right`` with the local interpreter's null semantics."""
    if op in ("==", "!="):
        if (left.value is None and left.const) or (right.value is None and right.const):
            eq = _and(left.is_null(), right.is_null())
        else:
            family = _family(left, right, where)
            eq = _or(
                _and(left.is_null(), right.is_null()),
                _and(left.present(), right.present(), _compare("==", left, right, family, where)),
            )
        return eq if op == "==" else _not(eq)
    if (left.const and left.value is None) or (right.const and right.value is None):
        return FALSE
    family = _family(left, right, where)
    return _and(left.present(), right.present(), _compare(op, left, right, family, where))


def top_rule(r: Rule) -> Rule:
    """A rule usable at the top of a Choice (constants become explicit tests)."""
    return dict(r)
