"""Python annotations ⇄ IR ``TypeRef``, and the one assignability relation.

The rules follow what mypy applies to the same annotations: ``bool`` ≤ ``int`` ≤ ``float``;
``list``/``dict`` are invariant; ``tuple`` and ``Optional`` are covariant; ``T`` ≤ ``T | None`` but
not the reverse; records and formats are nominal with subclassing (``TypedFile[Sub]`` ≤
``TypedFile[Base]``, and every format ≤ the root ``Format``, which bare ``TypedFile`` means).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import math
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

from typedflow.dsl.secret import REF as SECRET_REF
from typedflow.dsl.secret import Secret
from typedflow.errors import UnsupportedType
from typedflow.files import TypedDirectory, TypedFile
from typedflow.formats import Format, format_key, format_lineage
from typedflow.ir import Field, TypeKind, TypeRef, render
from typedflow.ir.values import encode, is_namedtuple, unstructure_members
from typedflow.tables.rule import Col, describe, mismatches, satisfies
from typedflow.tables.schema import schema_of
from typedflow.util.boundary import BoundaryError, check_handle

_PRIMS: dict[Any, TypeKind] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    type(None): "none",
    None: "none",
    dt.datetime: "datetime",
    dt.date: "date",
}

_CACHE: dict[Any, TypeRef] = {}

NONE = TypeRef("none")
SECRET = TypeRef("secret")


def holds_secret(t: TypeRef) -> bool:
    """Whether a value of type ``t`` contains a Secret anywhere."""
    if t.kind == "secret":
        return True
    return any(holds_secret(a) for a in t.args) or any(holds_secret(f.type) for f in t.fields)


def _key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def type_ref(annotation: Any) -> TypeRef:
    """The IR type of an annotation; raises :class:`UnsupportedType` with the reason."""
    try:
        return _CACHE[annotation]
    except (KeyError, TypeError):
        pass
    ref = _convert(annotation, ())
    try:
        _CACHE[annotation] = ref
    except TypeError:
        pass
    return ref


def _convert(tp: Any, seen: tuple[Any, ...]) -> TypeRef:
    if tp is Secret:
        return SECRET
    prim = _PRIMS.get(tp) if _hashable(tp) else None
    if prim is not None:
        return TypeRef(prim)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is TypedFile or tp is TypedDirectory or origin in (TypedFile, TypedDirectory):
        fmt = args[0] if args else Format
        if not (isinstance(fmt, type) and issubclass(fmt, Format)):
            raise UnsupportedType(
                f"{_show(tp)}: the format must be a Format subclass (e.g. TypedFile[CSV]), got {fmt!r}"
            )
        kind: TypeKind = "file" if (tp is TypedFile or origin is TypedFile) else "directory"
        schema = None
        if fmt.columns is not None:
            try:
                schema = schema_of(fmt.columns)
            except UnsupportedType as exc:
                raise UnsupportedType(f"{_show(tp)}: {exc}") from None
        return TypeRef(kind, name=format_key(fmt), lineage=format_lineage(fmt), schema=schema)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner = _convert(rest[0], seen)
            return inner if inner.kind == "optional" else TypeRef("optional", (inner,))
        raise UnsupportedType(
            f"{_show(tp)}: unions other than `T | None` are not supported; use one type or an attrs class"
        )
    if origin is list:
        if len(args) != 1:
            raise UnsupportedType(f"{_show(tp)}: a list needs its element type, e.g. list[int]")
        return TypeRef("list", (_convert(args[0], seen),))
    if origin is dict:
        if len(args) != 2 or args[0] is not str:
            raise UnsupportedType(f"{_show(tp)}: dictionaries must have str keys, e.g. dict[str, float]")
        return TypeRef("dict", (_convert(args[1], seen),))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[T, ...]: a JSON list, decoded as a tuple
            return TypeRef("list", (_convert(args[0], seen),), flavor="tuple")
        if not args:
            raise UnsupportedType(f"{_show(tp)}: needs type arguments, e.g. tuple[int, str] or tuple[str, ...]")
        if args == ((),):
            args = ()
        return TypeRef("tuple", tuple(_convert(a, seen) for a in args))
    if tp in (list, dict, tuple):
        raise UnsupportedType(f"{_show(tp)}: needs type arguments, e.g. list[int] or dict[str, float]")
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            values = [m.value for m in tp]
            ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            if not ints and not all(isinstance(v, str) for v in values):
                # the type of a value's JSON (and of a Vertex parameter) follows from the enum, not the member
                raise UnsupportedType(f"{_show(tp)}: enum values must be all str or all int")
            members = tuple(str(v) for v in values)
            # an IntEnum is an int, a str-mixin enum a str, as for Python and mypy: where they may also go
            base = ("int",) if issubclass(tp, int) else ("str",) if issubclass(tp, str) else ()
            if base == ("str",):
                unstructure_members(tp)
            return TypeRef(
                "enum", name=_key(tp), members=members, flavor="int" if ints and values else "", lineage=base
            )
        flavor = (
            "namedtuple"
            if is_namedtuple(tp)
            else "attrs"
            if attrs.has(tp)
            else "dataclass"
            if dataclasses.is_dataclass(tp)
            else ""
        )
        if flavor:
            if tp in seen:
                raise UnsupportedType(f"{_show(tp)}: recursive record types are not supported")
            try:
                hints = typing.get_type_hints(tp)
            except Exception as exc:
                raise UnsupportedType(f"{_show(tp)}: cannot resolve field annotations ({exc})") from exc
            names = _field_names(tp, flavor)
            defaults = _field_defaults(tp, flavor)
            fields = []
            for n in names:
                if n not in hints:
                    raise UnsupportedType(f"{_show(tp)}: field {n!r} has no type annotation")
                try:
                    ft = _convert(hints[n], (*seen, tp))
                except UnsupportedType as exc:
                    raise UnsupportedType(f"{_show(tp)}.{n}: {exc}") from None
                fields.append(_field(n, ft, hints[n], defaults))
            bases = tuple(  # a subclass is its bases too (a NamedTuple's subclass has the NamedTuple's fields)
                _key(b)
                for b in tp.__mro__[1:]
                if b is not object and (attrs.has(b) or dataclasses.is_dataclass(b) or is_namedtuple(b))
            )
            return TypeRef("record", name=_key(tp), lineage=(_key(tp), *bases), fields=tuple(fields), flavor=flavor)
        if tp is typing.Any or tp is object:
            raise UnsupportedType(f"{_show(tp)}: values need a concrete type")
        raise UnsupportedType(
            f"{_show(tp)}: not a supported value type (bool, int, float, str, bytes, None, datetime, date, "
            "Enum, list, dict, tuple, Optional, attrs classes, dataclasses, NamedTuple, TypedFile, "
            "TypedDirectory, Secret); values cross process boundaries as typed JSON, never pickled"
        )
    if tp is typing.Any:
        raise UnsupportedType("Any: values need a concrete type so they can be checked and serialized")
    raise UnsupportedType(f"{_show(tp)}: not a supported annotation; {_instead(tp)}")


def _instead(tp: Any) -> str:
    """What to write instead of an annotation typed JSON cannot carry."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "use an Enum of the values (class Kind(enum.StrEnum): ...), or their type"
    if isinstance(tp, typing.TypeVar):
        return "a type variable: a task's or workflow's values need concrete types, checked and serialized as declared"
    if origin in (set, frozenset) or tp in (set, frozenset):
        return "use list[T] or tuple[T, ...] (typed JSON has no sets)"
    if origin is typing.Annotated:
        return "write the type itself (Annotated is for the columns of a table schema)"
    return (
        "values are bool, int, float, str, bytes, None, datetime, date, Enum, list, dict, tuple, Optional, "
        "records (attrs, dataclass, NamedTuple), TypedFile, TypedDirectory or Secret"
    )


def _hashable(tp: Any) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


def _field_names(tp: type, flavor: str) -> list[str]:
    if flavor == "namedtuple":
        return list(tp._fields)  # type: ignore[attr-defined]
    if flavor == "attrs":
        return [a.name for a in attrs.fields(tp)]
    return [f.name for f in dataclasses.fields(tp)]


_NO_DEFAULT = object()


def _field_defaults(tp: type, flavor: str) -> dict[str, Any]:
    """The Python default of each field that has one (a factory is called once; one that needs the
    instance gives none)."""
    out: dict[str, Any] = {}
    if flavor == "namedtuple":
        return dict(getattr(tp, "_field_defaults", {}))
    if flavor == "attrs":
        for a in attrs.fields(tp):
            d = a.default
            if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
                if not d.takes_self:
                    out[a.name] = _called(d.factory)
            elif d is not attrs.NOTHING:
                out[a.name] = d
        return out
    for f in dataclasses.fields(tp):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = _called(f.default_factory)
    return out


def _called(factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except Exception:
        return _NO_DEFAULT


def _field(name: str, t: TypeRef, annotation: Any, defaults: dict[str, Any]) -> Field:
    """A record field, with its default as typed JSON when it has one that JSON can carry (one that
    cannot, or that does not fit the field's type, leaves the field required in JSON input)."""
    value = defaults.get(name, _NO_DEFAULT)
    if value is _NO_DEFAULT:
        return Field(name, t)
    try:
        data = encode(value, annotation)
    except Exception:
        return Field(name, t)
    if check_json(data, t, name) is not None:
        return Field(name, t)
    return Field(name, t, True, normal_form(data, t))


def _show(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing.", "").replace("typedflow.files.", "").replace("typedflow.formats.", "")


def _short(name: str) -> str:
    return name.rpartition(":")[2]


_NUMERIC_RANK = {"bool": 0, "int": 1, "float": 2}


def assignable(src: TypeRef, dst: TypeRef) -> bool:
    """Whether a value of type ``src`` may be bound where ``dst`` is declared."""
    if src == dst:
        return True
    sk, dk = src.kind, dst.kind
    if dk == "any":
        return True
    if dk == "optional":
        if sk == "none":
            return True
        if sk == "optional":
            return assignable(src.args[0], dst.args[0])
        return assignable(src, dst.args[0])
    if sk == "optional":
        return False
    if sk == "enum" and dk != "enum" and src.lineage:  # an IntEnum member is an int, a str-mixin one a str
        return assignable(TypeRef("int" if src.lineage[0] == "int" else "str"), dst)
    if sk in _NUMERIC_RANK and dk in _NUMERIC_RANK:
        return _NUMERIC_RANK[sk] <= _NUMERIC_RANK[dk]
    if dk == "list" and dst.flavor == "tuple":  # tuple[T, ...] is covariant, and takes fixed tuples of T
        if sk == "tuple":
            return all(assignable(a, dst.args[0]) for a in src.args)
        return sk == "list" and src.flavor == "tuple" and assignable(src.args[0], dst.args[0])
    if sk != dk:
        return False
    if sk in ("list", "dict"):  # invariant: each element type assignable both ways (equal, but for schemas)
        return src.flavor == dst.flavor and (
            src.args == dst.args or (assignable(src.args[0], dst.args[0]) and assignable(dst.args[0], src.args[0]))
        )
    if sk == "tuple":
        return len(src.args) == len(dst.args) and all(map(assignable, src.args, dst.args))
    if sk in ("file", "directory"):  # the format nominally (Parquet[Raw]'s is Parquet), then the columns
        return (dst.lineage[0] if dst.lineage else dst.name) in src.lineage and columns_satisfy(src, dst)
    if sk == "record":
        return dst.name in src.lineage
    if sk == "enum":
        return src.name == dst.name
    return sk == dk


def columns_satisfy(src: TypeRef, dst: TypeRef) -> bool:
    """Whether the columns of a ``src`` table file satisfy those ``dst`` declares (see
    :mod:`typedflow.tables.rule`); a format without a schema satisfies, and is satisfied by, any."""
    if src.schema is None or dst.schema is None or src.schema == dst.schema:
        return True
    return satisfies(_cols(src.schema), _cols(dst.schema))


def _cols(schema: Any) -> list[Any]:
    return [Col(c.name, c.type, c.nullable) for c in schema.columns]


def columns_mismatch(src: TypeRef, dst: TypeRef) -> str | None:
    """Why ``src`` is not assignable to ``dst`` when only their column schemas are in the way (at the
    top level, or inside Optional/list/dict/tuple); None otherwise."""
    if assignable(src, dst):
        return None
    pair = _schema_pair(src, dst)
    if pair is None:
        return None
    a, b = pair
    if mismatches(_cols(a), _cols(b)):
        return describe(_short(a.name), _cols(a), _short(b.name), _cols(b))
    # in an invariant position (list, dict) the other direction must hold too
    return describe(_short(b.name), _cols(b), _short(a.name), _cols(a))


def _schema_pair(src: TypeRef, dst: TypeRef) -> tuple[Any, Any] | None:
    """The first pair of differing schemas at the same place in ``src`` and ``dst``, when the two
    types are otherwise assignable."""
    if src.kind == "optional" and dst.kind == "optional":
        return _schema_pair(src.args[0], dst.args[0])
    if dst.kind == "optional":
        return _schema_pair(src, dst.args[0])
    if src.kind in ("file", "directory") and src.kind == dst.kind:
        base = dst.lineage[0] if dst.lineage else dst.name
        if base in src.lineage and src.schema is not None and dst.schema is not None and src.schema != dst.schema:
            return src.schema, dst.schema
        return None
    if src.kind == dst.kind and src.kind in ("list", "dict", "tuple") and len(src.args) == len(dst.args):
        for a, b in zip(src.args, dst.args, strict=True):
            found = _schema_pair(a, b)
            if found is not None and not (assignable(a, b) and (src.kind == "tuple" or assignable(b, a))):
                return found
    return None


def field_type(t: TypeRef, name: str) -> TypeRef | None:
    """The type of field ``name`` of a record type, or None when it has no such field."""
    if t.kind == "record":
        for f in t.fields:
            if f.name == name:
                return f.type
    return None


# I-JSON's interoperable integers: a JSON number beyond them is rounded by a double-based reader.
MAX_SAFE_INT = 2**53 - 1


@attrs.frozen
class JsonProblem:
    """Why a typed-JSON value does not conform to its type: where in the value, and what is wrong.
    ``value_rule``: the value breaks one of the rules that keep typed JSON the same on every target
    (an int beyond the exact range, a NaN or infinity, a non-str key), rather than having another type."""

    where: str
    message: str
    value_rule: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# Lists of plain scalars checked in one pass (any other element, e.g. an int subclass, gets the
# element-by-element check, which also names the first bad one).
_ALL_PLAIN: dict[str, Callable[[list[Any]], bool]] = {
    "int": lambda vs: all(type(v) is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT for v in vs),
    "float": lambda vs: all(
        (type(v) is float and math.isfinite(v)) or (type(v) is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT) for v in vs
    ),
    "str": lambda vs: all(type(v) is str for v in vs),
    "bool": lambda vs: all(type(v) is bool for v in vs),
}

_Check = Callable[[Any, TypeRef, str], "JsonProblem | None"]


def check_json(value: Any, t: TypeRef, where: str = "value") -> JsonProblem | None:
    """Why the typed-JSON ``value`` does not conform to ``t`` (None when it does)."""
    check = _CHECKS.get(t.kind)
    return None if check is None else check(value, t, where)


def _optional(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    return None if value is None else check_json(value, t.args[0], where)


def _none(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    return None if value is None else JsonProblem(where, f"expected None, got {_jtype(value)}")


def _int(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return JsonProblem(where, f"expected int, got {_jtype(value)}")
    if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return JsonProblem(
            where,
            f"int {value} is beyond ±(2**53 - 1), the integers every target carries exactly "
            "(Vertex passes numbers as doubles); pass it as a str",
            value_rule=True,
        )
    return None


def _float(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return JsonProblem(where, f"expected float, got {_jtype(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int no float can hold
        finite = False
    if not finite:  # typed JSON (and every digest over it) has no NaN/Infinity
        shown = repr(value) if isinstance(value, float) else f"an int of {len(str(abs(value)))} digits"
        return JsonProblem(where, f"expected a finite float, got {shown}", value_rule=True)
    return None


def has_variants(t: TypeRef) -> bool:
    """Whether a value of ``t`` has more than one typed-JSON spelling: it can hold a ``float``, a
    ``dict``, a ``datetime`` or a ``date`` (see :func:`normal_form`)."""
    if t.kind in ("float", "dict", "datetime", "date"):
        return True
    if t.kind == "record":
        return any(has_variants(f.type) for f in t.fields)
    return any(has_variants(a) for a in t.args)


def normal_form(value: Any, t: TypeRef) -> Any:
    """``value``, typed JSON that conforms to ``t``, in its one normal form: every int where a float
    is declared made a float, every ``dict``'s entries in the order of their keys, and every
    ``datetime`` and ``date`` in Python's ``isoformat()`` (ISO 8601 has many spellings of one time).

    A ``float`` annotation takes ``1`` as ``1.0`` (mypy allows it; the task gets ``1.0``), and two dicts
    of the same entries are equal in Python and have one digest. Normalised where a value enters a run
    (inputs, defaults, constants, a task's return value, a cloud worker's inputs), a value is spelled
    the same fresh, served from the cache, resumed or passed on by a cloud service, so a task iterating
    a dict sees one order everywhere, and digests (cache keys, lineage) do not depend on the spelling.
    Returns ``value`` itself when it is already in normal form."""
    k = t.kind
    if k == "float":
        return float(value) if type(value) is int else value
    if k == "datetime" and type(value) is str:
        formed = dt.datetime.fromisoformat(value).isoformat()
        return value if formed == value else formed
    if k == "date" and type(value) is str:
        formed = dt.date.fromisoformat(value).isoformat()
        return value if formed == value else formed
    if value is None or not has_variants(t):
        return value
    if k == "optional":
        return normal_form(value, t.args[0])
    if k == "list" and type(value) is list:
        inner = t.args[0]
        items = [normal_form(v, inner) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if k == "tuple" and type(value) is list:
        items = [normal_form(v, a) for v, a in zip(value, t.args, strict=False)]
        return items if any(a is not b for a, b in zip(items, value, strict=False)) else value
    if k == "dict" and type(value) is dict:
        inner = t.args[0]
        keys = list(value)
        ordered = sorted(keys)
        entries = {key: normal_form(value[key], inner) for key in ordered}
        same = keys == ordered and all(entries[key] is value[key] for key in keys)
        return value if same else entries
    if k == "record" and type(value) is dict:
        fields = {f.name: f.type for f in t.fields}
        entries = {key: normal_form(v, fields[key]) if key in fields else v for key, v in value.items()}
        return entries if any(entries[key] is not v for key, v in value.items()) else value
    return value


def _scalar(py: type, parse: Callable[[str], object] | None = None, form: str = "") -> _Check:
    """A check of a JSON scalar of type ``py`` whose text ``parse`` accepts (raising ValueError if not)."""

    def check(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
        if not isinstance(value, py):
            return JsonProblem(where, f"expected {t.kind}, got {_jtype(value)}")
        if parse is not None:
            try:
                parse(str(value))
            except ValueError:
                return JsonProblem(where, f"expected {form}, got {value!r}")
        return None

    return check


def _enum(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    # An int enum's value is a JSON number, a str enum's a string: "2" is no member of an int enum
    # (a condition comparing it with 2 would not hold, and the task could not decode it).
    if t.flavor == "int":
        if type(value) is int and str(value) in t.members:
            return None
        return JsonProblem(where, f"expected one of {[int(m) for m in t.members]}, got {value!r}")
    if type(value) is str and value in t.members:
        return None
    return JsonProblem(where, f"expected one of {list(t.members)}, got {value!r}")


def _list(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, list):
        return JsonProblem(where, f"expected {render(t)}, got {_jtype(value)}")
    inner = t.args[0]
    fast = _ALL_PLAIN.get(inner.kind)
    if fast is not None and fast(value):
        return None
    for i, v in enumerate(value):
        # The element's place is spelled out only for the error (a long list is mostly fine).
        if check_json(v, inner) is not None:
            return check_json(v, inner, f"{where}[{i}]")
    return None


def _dict(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, dict):
        return JsonProblem(where, f"expected {render(t)}, got {_jtype(value)}")
    for key, v in value.items():
        if type(key) is not str:  # JSON would turn it into a string: the value would change type
            return JsonProblem(
                where, f"expected {render(t)}, got a key {key!r} ({type(key).__name__}, not str)", value_rule=True
            )
        if check_json(v, t.args[0]) is not None:
            return check_json(v, t.args[0], f"{where}[{key!r}]")
    return None


def _tuple(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, list) or len(value) != len(t.args):
        return JsonProblem(where, f"expected {render(t)} (a list of {len(t.args)}), got {_jtype(value)}")
    for i, (v, a) in enumerate(zip(value, t.args, strict=True)):
        err = check_json(v, a, f"{where}[{i}]")
        if err:
            return err
    return None


def _record(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, dict):
        return JsonProblem(where, f"expected {render(t)} (an object), got {_jtype(value)}")
    extra = sorted(set(value) - {f.name for f in t.fields})
    if extra:
        return JsonProblem(where, f"{render(t)} has no field {extra[0]!r}")
    for f in t.fields:
        if f.name not in value:
            if f.type.kind == "optional":
                continue
            return JsonProblem(where, f"missing field {f.name!r} of {render(t)}")
        err = check_json(value[f.name], f.type, f"{where}.{f.name}")
        if err:
            return err
    return None


def _secret(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    ref = value.get("secret") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(ref, str) or SECRET_REF.fullmatch(ref) is None:
        return JsonProblem(where, f'expected a Secret (an object {{"secret": "env:NAME"}}), got {_jtype(value)}')
    return None


def _handle(value: Any, t: TypeRef, where: str) -> JsonProblem | None:
    if not isinstance(value, dict) or not isinstance(value.get("uri"), str):
        return JsonProblem(where, f"expected {render(t)} (an object with a uri), got {_jtype(value)}")
    try:
        check_handle(value, where, stored=False)
    except BoundaryError as exc:
        return JsonProblem(where, str(exc).removeprefix(f"{where}: "))
    return None


def _b64(text: str) -> object:
    return base64.b64decode(text, validate=True)


_CHECKS: dict[str, _Check] = {
    "optional": _optional,
    "none": _none,
    "int": _int,
    "float": _float,
    "bool": _scalar(bool),
    "str": _scalar(str),
    "bytes": _scalar(str, _b64, "bytes as base64 text"),
    "datetime": _scalar(str, dt.datetime.fromisoformat, "an ISO-8601 datetime"),
    "date": _scalar(str, dt.date.fromisoformat, "an ISO-8601 date"),
    "enum": _enum,
    "list": _list,
    "dict": _dict,
    "tuple": _tuple,
    "record": _record,
    "secret": _secret,
    "file": _handle,
    "directory": _handle,
}  # "any": no check


def _jtype(v: Any) -> str:
    if v is None:
        return "None"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__
