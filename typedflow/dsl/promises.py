"""Placeholders for values that exist only when the workflow runs.

Inside a ``@workflow`` body a task call returns a :class:`Promise`. Field access is allowed (it is
how NamedTuple outputs are used), and so is unpacking a NamedTuple into its fields; comparisons build
:class:`Cond` objects for ``when``. Everything
Python would do with a concrete value (truth tests, loops, arithmetic, ``len``, indexing,
formatting) is recorded as an error with a hint, and tracing goes on so that every error is found.
"""

from __future__ import annotations

import dis
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from typedflow import ir
from typedflow.ir.types import assignable, field_type

if TYPE_CHECKING:
    from typedflow.dsl.tracing import Scope, Tracer

_HINTS = {
    "typedflow-truthiness": "branch with `with when(...)` / `otherwise()` instead of `if`",
    "typedflow-iteration": "use `map_over(fn, items)` to run a task per element",
    "typedflow-arithmetic": "compute it inside a @task (to run one task after another, use `with after(...)`)",
    "typedflow-len": "compute it inside a @task",
    "typedflow-index": "select the element inside a @task, or use map_over",
    "typedflow-format": "format it inside a @task",
    "typedflow-call": "task outputs are values, not functions",
}


class Promise:
    """A typed reference to a value produced when the workflow runs."""

    __slots__ = ("_node", "_origin", "_ref", "_scope", "_tracer", "_type")
    __hash__ = object.__hash__
    _node: str | None
    _origin: str
    _ref: ir.Binding
    _scope: Scope | None
    _tracer: Tracer | None
    _type: ir.TypeRef

    def __init__(
        self,
        tracer: Tracer | None,
        ref: ir.Binding,
        type_: ir.TypeRef,
        scope: Scope | None,
        origin: str,
        node: str | None = None,
    ) -> None:
        object.__setattr__(self, "_tracer", tracer)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_)
        object.__setattr__(self, "_scope", scope)
        object.__setattr__(self, "_origin", origin)
        object.__setattr__(self, "_node", node)  # the node that produces it (also for a task of no output)

    @property
    def _poison(self) -> bool:
        return self._type.kind == "any"

    def _misuse(self, code: str, what: str) -> None:
        tracer = self._tracer
        if tracer is not None and not self._poison:
            frame = sys._getframe(2)
            tracer.misuse_at(
                frame, f"{what} {_described(self._origin)} ({self._type}) inside a workflow; {_HINTS[code]}", code
            )

    def _poisoned(self) -> Promise:
        return Promise(self._tracer, ir.Const(None), ir.TypeRef("any"), None, self._origin)

    def __getattr__(self, name: str) -> Promise:
        if name.startswith("__"):
            raise AttributeError(name)
        t = self._type
        if name == "keys" and _merging(sys._getframe(1)):  # `{**output}`, `task(**output)`
            self._misuse("typedflow-iteration", "unpacking")
            return self._poisoned()  # its keys() are no keys
        if self._poison:
            return self
        ft = field_type(t, name)
        if ft is None:
            if self._tracer is not None:
                hint = ""
                if t.kind == "optional" and field_type(t.args[0], name) is not None:
                    hint = f' (the value may be None: read the field in a @task that takes "{t}")'
                self._tracer.problem_at(
                    sys._getframe(1), f'{self._origin} ({t}) has no attribute "{name}"{hint}', "attr-defined"
                )
            return self._poisoned()
        ref = self._ref
        if isinstance(ref, ir.OneOf):  # a field of whichever value it is: that field of each option
            new_ref: ir.Binding = ir.OneOf(tuple(_field_of(o, name) for o in ref.options))
        elif isinstance(ref, ir.OutputRef):
            new_ref = _field_of(ref, name)
        elif isinstance(ref, ir.InputRef | ir.ItemRef):
            new_ref = type(ref)(*_with_path(ref, name))
        else:
            return self._poisoned()
        return Promise(self._tracer, new_ref, ft, self._scope, f"{self._origin}.{name}", self._node)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("task outputs are immutable")

    # ------------------------------------------------------------------ misuse
    def __bool__(self) -> bool:
        self._misuse("typedflow-truthiness", "truth-testing")
        return True

    def __iter__(self) -> Any:
        t = self._type
        names = _unpacked_into(sys._getframe(1))
        if t.kind == "record" and t.flavor == "namedtuple":  # `a, b = pair()`: its fields, in order
            n, starred = names if names is not None else (len(t.fields), False)
            if n == len(t.fields) or (starred and n < len(t.fields)):
                return iter([self.__getattr__(f.name) for f in t.fields])
            if self._tracer is not None and not self._poison:  # mypy's words for a wrong count
                k = len(t.fields)
                shown = (
                    f"Need more than {k} values to unpack ({n} expected)"
                    if k < n
                    else f"Too many values to unpack ({n} expected, {k} provided)"
                )
                self._tracer.misuse_at(sys._getframe(1), f"{shown}: {self._origin} is a {t}", "misc")
        else:
            self._misuse("typedflow-iteration", "iterating over" if names is None else "unpacking")
        # as many (poisoned) values as the names unpacked into, so that tracing goes on to the next errors
        return iter([self._poisoned() for _ in range(names[0] if names is not None else 0)])

    def __contains__(self, item: Any) -> bool:
        self._misuse("typedflow-iteration", "a membership test on")
        return False

    def __len__(self) -> int:
        self._misuse("typedflow-len", "len() of")
        return 0

    def __getitem__(self, key: Any) -> Promise:
        self._misuse("typedflow-index", "indexing")
        return self._poisoned()

    def __format__(self, spec: str) -> str:
        self._misuse("typedflow-format", "string formatting of")
        return f"<{self._origin}>"

    def __str__(self) -> str:
        self._misuse("typedflow-format", "str() of")
        return f"<{self._origin}>"

    def __repr__(self) -> str:
        return f"<promise {self._origin}: {self._type}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Promise:
        self._misuse("typedflow-call", "calling")
        return self._poisoned()

    def __int__(self) -> int:
        self._misuse("typedflow-arithmetic", "int() of")
        return 0

    def __float__(self) -> float:
        self._misuse("typedflow-arithmetic", "float() of")
        return 0.0

    def __index__(self) -> int:
        self._misuse("typedflow-index", "indexing with")
        return 0

    # ------------------------------------------------------------------ comparisons → conditions
    def _compare(self, op: str, other: Any) -> Cond:
        tracer = self._tracer
        assert tracer is not None
        return tracer.compare(self, op, other, sys._getframe(2))

    def __eq__(self, other: object) -> Cond:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> Cond:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> Cond:
        return self._compare("<", other)

    def __le__(self, other: Any) -> Cond:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> Cond:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> Cond:
        return self._compare(">=", other)


_UNPACK_SEQUENCE = dis.opmap["UNPACK_SEQUENCE"]
_UNPACK_EX = dis.opmap["UNPACK_EX"]


_MERGES = frozenset({dis.opmap["DICT_UPDATE"], dis.opmap["DICT_MERGE"]})


def _merging(frame: FrameType) -> bool:
    """Whether ``frame`` is unpacking a mapping into a dict display or a call's keywords (``**x``)."""
    code, i = frame.f_code.co_code, frame.f_lasti
    return 0 <= i < len(code) and code[i] in _MERGES


def _unpacked_into(frame: FrameType) -> tuple[int, bool] | None:
    """When ``frame`` is unpacking the value it iterates (``a, b = x``, ``a, *rest = x``): how many names
    take one value each, and whether a starred name takes the rest; None for a loop or a call."""
    code, i = frame.f_code.co_code, frame.f_lasti
    if not 0 <= i < len(code) - 1 or code[i] not in (_UNPACK_SEQUENCE, _UNPACK_EX):
        return None
    arg = code[i + 1]
    if i >= 2 and code[i - 2] == dis.EXTENDED_ARG:  # `a, *b, c = x`: the count after the star
        arg |= code[i - 1] << 8
    if code[i] == _UNPACK_SEQUENCE:
        return arg, False
    return (arg & 0xFF) + (arg >> 8), True


def _described(origin: str) -> str:
    """What a promise stands for: workflow inputs and map items are promises too, not task outputs."""
    if origin.startswith("input "):
        return f"workflow {origin}"
    if origin.startswith("map_over "):
        return origin
    return f"task output {origin}"


def _field_of(ref: ir.OutputRef, name: str) -> ir.OutputRef:
    if ref.output is None:  # a whole NamedTuple: the field is one of the task's outputs
        return ir.OutputRef(ref.node, name, ())
    return ir.OutputRef(ref.node, ref.output, (*ref.path, name))


def _with_path(ref: ir.OutputRef | ir.InputRef | ir.ItemRef, name: str) -> tuple[Any, ...]:
    if isinstance(ref, ir.OutputRef):
        return (ref.node, ref.output, (*ref.path, name))
    if isinstance(ref, ir.InputRef):
        return (ref.name, (*ref.path, name))
    return (ref.map, (*ref.path, name))


def _arith(code: str, what: str) -> Any:
    def method(self: Promise, *args: Any) -> Promise:
        self._misuse(code, what)
        return self._poisoned()

    return method


for _name in (
    "add",
    "radd",
    "sub",
    "rsub",
    "mul",
    "rmul",
    "truediv",
    "rtruediv",
    "floordiv",
    "rfloordiv",
    "mod",
    "rmod",
    "pow",
    "rpow",
    "neg",
    "pos",
    "abs",
    "invert",
    "and",
    "rand",
    "or",
    "ror",
    "xor",
    "rxor",
    "lshift",
    "rshift",
    "round",
    "matmul",
    "rmatmul",
    "rlshift",
    "rrshift",
    "divmod",
    "rdivmod",
    "trunc",
    "floor",
    "ceil",
):
    setattr(Promise, f"__{_name}__", _arith("typedflow-arithmetic", "arithmetic on"))


class Cond:
    """A condition on task outputs, for ``when``. Combine with ``&``, ``|`` and ``~``."""

    __slots__ = ("_deps", "_tracer", "ir")

    def __init__(self, tracer: Tracer, cond: ir.Condition, deps: tuple[Promise, ...]) -> None:
        self._tracer = tracer
        self.ir = cond
        self._deps = deps

    def __and__(self, other: Cond) -> Cond:
        return Cond(self._tracer, ir.And((self.ir, _cond_of(other))), self._deps + _deps_of(other))

    def __or__(self, other: Cond) -> Cond:
        return Cond(self._tracer, ir.Or((self.ir, _cond_of(other))), self._deps + _deps_of(other))

    def __invert__(self) -> Cond:
        return Cond(self._tracer, ir.Not(self.ir), self._deps)

    def __bool__(self) -> bool:
        self._tracer.problem_at(
            sys._getframe(1),
            "truth-testing a condition on task outputs inside a workflow (an `if`, `and`, `or` or `not`); "
            "use `with when(cond):` and combine conditions with &, |, ~",
            "typedflow-truthiness",
        )
        return True


def _cond_of(c: Any) -> ir.Condition:
    return c.ir if isinstance(c, Cond) else ir.Compare("==", ir.Const(True), ir.Const(bool(c)))


def _deps_of(c: Any) -> tuple[Promise, ...]:
    return c._deps if isinstance(c, Cond) else ()


def comparable(a: ir.TypeRef, b: ir.TypeRef, op: str) -> bool:
    """Whether a condition may compare values of these types with ``op``."""
    if a.kind == "any" or b.kind == "any":
        return True
    if op in ("==", "!="):
        if a.kind == "none" or b.kind == "none":
            return True
        a2 = a.args[0] if a.kind == "optional" else a
        b2 = b.args[0] if b.kind == "optional" else b
        return assignable(a2, b2) or assignable(b2, a2)
    numeric = ("int", "float", "bool")
    ak, bk = _ordered_as(a), _ordered_as(b)
    if ak in numeric and bk in numeric:
        return True
    # Ordered as in Python; every target compares dates and datetimes as their isoformat() text.
    return ak == bk and ak in ("str", "date", "datetime")


def _ordered_as(t: ir.TypeRef) -> str:
    """The kind an ordering sees: an IntEnum's member is an int, a str-mixin enum's a str (a plain enum's none)."""
    return t.lineage[0] if t.kind == "enum" and t.lineage else t.kind
