"""The one encoder of lineage records: their canonical JSON, generated from the record's fields.

A record's bytes are what its hash and signatures cover, so there is exactly one way to make them.
:class:`RecordEncoder` is generated once per *shape* (which fields are the same in every record it
encodes: a run's and task's identity, versions and digests) from ``attrs.fields(LineageRecord)``, the
way cattrs generates one function per class; the fixed fields are encoded once per encoder and every
record only encodes what varies. The tests check its bytes against ``canonical_json`` of the record's
dict for arbitrary records.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii as _s
from typing import Any, Final

import attrs

from typedflow.lineage.record import KINDS, STATUSES, LineageRecord, ParamValue, ValueRef

__all__ = [
    "CHAIN_FIELDS",
    "Prepared",
    "RecordEncoder",
    "encode_record",
    "join",
    "param_json",
    "params_json",
    "ref_json",
]

# A record encoded around its two chain fields, which the log fills at commit time:
# line = a + prev_hash + b + str(seq) + c.
Prepared = tuple[str, str, str]
CHAIN_FIELDS: Final = ("prev_hash", "seq")

_int_repr: Final = int.__repr__
_float_repr: Final = float.__repr__
_CHECKED: Final = {"kind": KINDS, "status": STATUSES}  # the record's validators, as the encoder applies them


def _str(v: str) -> str:
    return _s(v)


def _opt_str(v: str | None) -> str:
    return "null" if v is None else _s(v)


def _int(v: int) -> str:
    if type(v) is not int:  # a bool is an int to Python, not to JSON
        raise TypeError(f"expected an int, got {type(v).__name__}")
    return _int_repr(v)


def param_json(v: ParamValue) -> str:
    """A parameter value as the canonical encoder writes it: bool before int, repr for numbers."""
    if type(v) is int:  # the exact types first: most parameters are plain ints and strings
        return _int_repr(v)
    if type(v) is str:
        return _s(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return _int_repr(v)
    if isinstance(v, float):
        return _float_repr(v)  # the C encoder's form; NaN and infinities never reach a record (safe_value)
    return _s(v)


def params_json(v: Mapping[str, ParamValue]) -> str:
    """A record's parameters as it holds them."""
    if len(v) < 2:  # nothing to sort
        return "{" + "".join([_s(k) + ":" + param_json(x) for k, x in v.items()]) + "}"
    return "{" + ",".join([_s(k) + ":" + param_json(v[k]) for k in sorted(v)]) + "}"


def _columns(v: tuple[tuple[str, str], ...]) -> str:
    return "[" + ",".join([f"[{_s(n)},{_s(t)}]" for n, t in v]) + "]"


def ref_json(
    name: str,
    digest: str,
    uri: str | None = None,
    sha: str | None = None,
    columns: tuple[tuple[str, str], ...] | None = None,
    schema: str | None = None,
) -> str:
    """A :class:`ValueRef` of these fields as a record holds it, without making one."""
    # ValueRef's keys sorted; the two of a table's schema only when set (as record_to_dict omits them).
    head = "{" if columns is None else '{"columns":' + _columns(columns) + ","
    middle = "" if schema is None else ',"schema_digest":' + _s(schema)
    return (
        f'{head}"digest":{_s(digest)},"name":{_s(name)}{middle},'
        f'"sha256":{"null" if sha is None else _s(sha)},"uri":{"null" if uri is None else _s(uri)}}}'
    )


def _ref(r: ValueRef) -> str:
    return ref_json(r.name, r.digest, r.uri, r.sha256, r.columns, r.schema_digest)


def _refs(v: tuple[ValueRef, ...]) -> str:
    return "[" + ",".join([_ref(r) for r in v]) + "]"


# Each field's value as JSON, by its declared type: an expression the generated encoder inlines
# (a call per field would cost as much as the rest of the record), and the same as a function.
_BY_TYPE: Final[dict[Any, tuple[str, Callable[[Any], str]]]] = {
    str: ("_s({v})", _str),
    str | None: ("('null' if {v} is None else _s({v}))", _opt_str),
    int: ("(_int_repr({v}) if type({v}) is int else _int({v}))", _int),
    tuple[ValueRef, ...]: ("_refs({v})", _refs),
    dict[str, ParamValue]: ("_params({v})", params_json),
}


@functools.cache
def _fields() -> tuple[tuple[str, str, Callable[[Any], str]], ...]:
    """(name, inline expression, value encoder) of every record field, in key order."""
    attrs.resolve_types(LineageRecord)
    out = []
    fields: list[attrs.Attribute[Any]] = sorted(attrs.fields(LineageRecord), key=lambda f: f.name)
    for f in fields:
        if f.name in _CHECKED:  # a Literal of strings, validated as the record's constructor would
            expr, enc = (
                f"(_s({{v}}) if {{v}} in _allowed_{f.name} else _not_allowed({f.name!r}, {{v}}))",
                _member(f.name),
            )
        elif f.type in _BY_TYPE:
            expr, enc = _BY_TYPE[f.type]
        else:
            raise TypeError(f"LineageRecord.{f.name}: no encoder for {f.type!r} (add one to _BY_TYPE)")
        out.append((f.name, expr, enc))
    return tuple(out)


def _not_allowed(name: str, v: Any) -> str:
    raise ValueError(f"not a record {name}: {v!r:.60}")


def _member(name: str) -> Callable[[Any], str]:
    allowed = _CHECKED[name]

    def encode(v: Any) -> str:
        return _s(v) if v in allowed else _not_allowed(name, v)

    return encode


_NAMESPACE: Final = {
    "_s": _s,
    "_int_repr": _int_repr,
    "_int": _int,
    "_refs": _refs,
    "_params": params_json,
    "_not_allowed": _not_allowed,
    **{f"_allowed_{n}": allowed for n, allowed in _CHECKED.items()},
}


@functools.cache
def _generate(
    fixed: frozenset[str], encoded: frozenset[str] = frozenset()
) -> Callable[[Mapping[str, Any]], Callable[..., Prepared]]:
    """For one shape: a factory that encodes the fixed fields' values once and returns the encoder of
    the varying fields (keyword-only arguments, one concatenation per output piece; those in
    ``encoded`` are taken as JSON)."""
    fields = _fields()
    exprs_by_name = {name: expr for name, expr, _ in fields}
    # Tokens per output piece (a, b, c): literal text, a fixed field's value, a varying field's value.
    pieces: list[list[tuple[str, str]]] = [[]]
    for i, (name, _, _) in enumerate(fields):
        pieces[-1].append(("text", ("{" if i == 0 else ",") + _s(name) + ":"))
        if name == "prev_hash":  # a ends with its opening quote, b starts with its closing one
            pieces[-1].append(("text", '"'))
            pieces.append([("text", '"')])
        elif name == "seq":
            pieces.append([])
        else:
            pieces[-1].append(("fixed" if name in fixed else "var", name))
    pieces[-1].append(("text", "}"))
    # Runs of text and fixed values become one constant segment each: a list of their tokens.
    segments: list[list[tuple[str, str]]] = []
    exprs = []
    varying = []
    for piece in pieces:
        terms: list[str] = []
        run: list[tuple[str, str]] = []
        for token in [*piece, ("end", "")]:
            if token[0] in ("text", "fixed"):
                run.append(token)
                continue
            if run:
                terms.append(f"_k{len(segments)}")
                segments.append(run)
                run = []
            if token[0] == "var":
                terms.append(token[1] if token[1] in encoded else exprs_by_name[token[1]].format(v=token[1]))
                varying.append(token[1])
        # One f-string per piece: a single concatenation, however many fields.
        exprs.append('f"' + "".join("{" + t + "}" for t in terms) + '"')
    encoders = {name: enc for name, _, enc in fields}
    src = (
        f"def factory({', '.join(f'_k{i}' for i in range(len(segments)))}):\n"
        f"    def encode({'*, ' + ', '.join(varying) if varying else ''}):\n"
        f"        return ({exprs[0]}, {exprs[1]}, {exprs[2]})\n"
        f"    return encode\n"
    )
    namespace: dict[str, Any] = dict(_NAMESPACE)
    exec(compile(src, f"<lineage record encoder, fixed {sorted(fixed)}, encoded {sorted(encoded)}>", "exec"), namespace)
    make: Callable[..., Callable[..., Prepared]] = namespace["factory"]

    def factory(values: Mapping[str, Any]) -> Callable[..., Prepared]:
        consts = [
            "".join(text if kind == "text" else encoders[text](values[text]) for kind, text in seg) for seg in segments
        ]
        return make(*consts)

    return factory


class RecordEncoder:
    """Encodes records that share the values of ``fixed`` fields; :meth:`prepare` takes the others
    (every other field but the chain's, by keyword) and returns the record around its chain fields.
    ``encoded``: varying fields :meth:`prepare` takes as their JSON, made by this module's encoders
    (:func:`ref_json`, :func:`params_json`) when their values were taken."""

    __slots__ = ("prepare",)

    def __init__(self, *, encoded: frozenset[str] = frozenset(), **fixed: Any) -> None:
        names = {n for n, _, _ in _fields()} - set(CHAIN_FIELDS)
        unknown = set(fixed) - names
        if unknown:
            raise TypeError(f"not a fixed record field: {sorted(unknown)[0]!r}")
        if not encoded <= names - set(fixed):
            raise TypeError(f"not a varying record field: {sorted(encoded - (names - set(fixed)))[0]!r}")
        self.prepare: Callable[..., Prepared] = _generate(frozenset(fixed), frozenset(encoded))(fixed)


_GENERAL: Final = RecordEncoder()


def join(prepared: Prepared, prev_hash: str, seq: int) -> str:
    """The record's line (ASCII, no newline) with its chain fields."""
    a, b, c = prepared
    return a + _s(prev_hash)[1:-1] + b + _int(seq) + c


def encode_record(record: LineageRecord) -> Prepared:
    """Any record, encoded around its chain fields."""
    values = {n: getattr(record, n) for n, _, _ in _fields() if n not in CHAIN_FIELDS}
    return _GENERAL.prepare(**values)
