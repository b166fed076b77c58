"""Lineage records: what ran, on what, producing what, and where it was first written."""

from __future__ import annotations

import functools
import getpass
import json
import math
import os
import platform
import socket
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

import attrs
import cattrs
from cattrs.fns import identity as _identity
from cattrs.gen import make_dict_unstructure_fn, override
from cattrs.strategies import configure_union_passthrough

from typedflow._version import __version__
from typedflow.dsl.secret import sensitive
from typedflow.ir.canonical import canonical_bytes, sha256_hex
from typedflow.util.timestamps import utcnow

__all__ = [
    "GENESIS_HASH",
    "KINDS",
    "STATUSES",
    "LineageRecord",
    "ParamValue",
    "RecordKind",
    "RecordStatus",
    "ValueRef",
    "identity",
    "new_record",
    "new_record_id",
    "now_rfc3339",
    "origin_hash",
    "record_from_bytes",
    "record_from_dict",
    "record_hash",
    "record_line",
    "record_to_dict",
    "safe_parameters",
    "safe_value",
    "sensitive",
]

ParamValue = bool | int | float | str

GENESIS_HASH: Final = "0" * 64
RecordKind = Literal["task", "run_start", "run_end"]
RecordStatus = Literal["started", "succeeded", "failed", "cached", "skipped"]
KINDS: Final = frozenset(get_args(RecordKind))
STATUSES: Final = frozenset(get_args(RecordStatus))
_PYTHON_VERSION: Final = platform.python_version()


@attrs.frozen
class ValueRef:
    """A value a task consumed or produced, identified by digest. A table file declared with a
    column schema also has the schema's digest and its columns as (name, type) pairs; other values
    have neither key in the record."""

    name: str
    digest: str
    uri: str | None = None
    sha256: str | None = None
    columns: tuple[tuple[str, str], ...] | None = None
    schema_digest: str | None = None


@attrs.frozen
class LineageRecord:
    """One immutable lineage entry; ``seq`` and ``prev_hash`` are assigned by the log."""

    kind: RecordKind = attrs.field(validator=attrs.validators.in_(KINDS))
    record_id: str
    run_id: str
    workflow: str
    ir_digest: str
    target: str
    executor: str
    status: RecordStatus = attrs.field(validator=attrs.validators.in_(STATUSES))
    started_at: str
    ended_at: str | None
    python_version: str
    typedflow_version: str
    user: str
    host: str
    node_id: str | None = None
    task: str | None = None
    code_digest: str | None = None
    image: str | None = None
    attempt: int = 0
    inputs: tuple[ValueRef, ...] = ()
    outputs: tuple[ValueRef, ...] = ()
    parameters: dict[str, ParamValue] = attrs.Factory(dict)
    cache_key: str | None = None
    error: str | None = None
    log_origin: str = ""
    seq: int = -1
    prev_hash: str = ""


# The one converter: every byte that is hashed goes through it and canonical_json.
_CONVERTER: Final = cattrs.Converter(forbid_extra_keys=True)
configure_union_passthrough(ParamValue, _CONVERTER, accept_ints_as_floats=False)
# Leaves are already JSON scalars; identity hooks let cattrs inline them (appends are hot).
_CONVERTER.register_unstructure_hook(str | None, _identity)
_CONVERTER.register_unstructure_hook(ParamValue, _identity)
_CONVERTER.register_unstructure_hook(
    ValueRef,
    make_dict_unstructure_fn(
        ValueRef,
        _CONVERTER,
        columns=override(omit_if_default=True),
        schema_digest=override(omit_if_default=True),
    ),
)
_unstructure_ref = _CONVERTER.get_unstructure_hook(ValueRef)


def _unstructure_refs(refs: tuple[ValueRef, ...]) -> list[dict[str, Any]]:
    return [_unstructure_ref(r) for r in refs]


_CONVERTER.register_unstructure_hook_func(lambda t: t == tuple[ValueRef, ...], _unstructure_refs)
_unstructure = _CONVERTER.get_unstructure_hook(LineageRecord)
_structure = _CONVERTER.get_structure_hook(LineageRecord)


def record_to_dict(record: LineageRecord) -> dict[str, Any]:
    """Plain JSON-ready dict with every field present."""
    out: dict[str, Any] = _unstructure(record)
    return out


def record_from_dict(data: Mapping[str, Any]) -> LineageRecord:
    """Inverse of :func:`record_to_dict`; raises ValueError for unknown keys or wrong types."""
    try:
        rec: LineageRecord = _structure(data, LineageRecord)
    except (cattrs.BaseValidationError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a lineage record: {exc!r}") from exc
    return rec


def record_line(record: LineageRecord) -> bytes:
    """Canonical JSON bytes of the complete record (no newline)."""
    return canonical_bytes(_unstructure(record))


def record_from_bytes(line: bytes) -> LineageRecord:
    return record_from_dict(json.loads(line))


def record_hash(record: LineageRecord) -> str:
    """Hex sha256 of the canonical bytes of the complete record."""
    return sha256_hex(record_line(record))


def origin_hash(record: LineageRecord) -> str:
    """Hash of the record before a log chained it (``seq=-1``, ``prev_hash=""``).

    Content-addressed cloud objects are keyed by this, so it can be recomputed from a log line.
    """
    return record_hash(attrs.evolve(record, seq=-1, prev_hash=""))


now_rfc3339 = utcnow  # current UTC time, RFC 3339, microseconds, ``Z``: the runs' timestamp format


@functools.cache
def identity() -> tuple[str, str]:
    """(user, host) of this process; never raises."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        # Containers often run as a uid with no passwd entry.
        user = f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return user, socket.gethostname() or "unknown"


# Ids are cut from one os.urandom call per batch: a getrandom syscall per record cost more than the
# rest of its id. list.pop/extend are atomic, so threads never share an id; a forked child must not
# reuse its parent's unspent ids, so it drops them.
_ID_BATCH: Final = 256
_spare_ids: list[str] = []
os.register_at_fork(after_in_child=_spare_ids.clear)


def new_record_id() -> str:
    """128 random bits as 32 hex digits (uuid4's alphabet and length, without its costlier object)."""
    try:
        return _spare_ids.pop()
    except IndexError:
        pass
    hexed = os.urandom(16 * _ID_BATCH).hex()
    fresh = [hexed[i : i + 32] for i in range(0, len(hexed), 32)]
    _spare_ids.extend(fresh[1:])
    return fresh[0]


def new_record(
    kind: RecordKind,
    *,
    run_id: str,
    workflow: str,
    ir_digest: str,
    target: str,
    executor: str,
    status: RecordStatus,
    started_at: str | None = None,
    ended_at: str | None = None,
    **fields: Any,
) -> LineageRecord:
    """Build a record, filling id, timestamps, versions and identity."""
    user, host = identity()
    fields.setdefault("user", user)
    fields.setdefault("host", host)
    fields.setdefault("record_id", new_record_id())
    fields.setdefault("python_version", _PYTHON_VERSION)
    fields.setdefault("typedflow_version", __version__)
    return LineageRecord(
        kind=kind,
        run_id=run_id,
        workflow=workflow,
        ir_digest=ir_digest,
        target=target,
        executor=executor,
        status=status,
        started_at=started_at or now_rfc3339(),
        ended_at=ended_at,
        **fields,
    )


_MAX_STR: Final = 200


def safe_value(value: object) -> ParamValue | None:
    """``value`` if it is a scalar safe to record (finite, short), else None."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # canonical JSON has no NaN/Infinity
    if isinstance(value, str) and len(value) <= _MAX_STR:
        return value
    return None


def safe_parameters(values: Mapping[str, object]) -> dict[str, ParamValue]:
    """Scalar parameters safe to record: no secrets by name, no large or non-scalar values."""
    out: dict[str, ParamValue] = {}
    for name, value in values.items():
        if not sensitive(name):
            v = safe_value(value)
            if v is not None:
                out[name] = v
    return out
