"""Canonical JSON: the one byte form that digests and signatures are computed over."""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring_ascii
from typing import Any

# ASCII output: hashed bytes never depend on a text encoding (non-ASCII is \u-escaped), and the
# C encoder's ASCII path is the faster one (records are encoded on every task execution).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, check_circular=False
)


def _not_json(o: Any) -> Any:
    return _ENCODER.default(o)  # raises TypeError naming the type


# JSONEncoder.encode builds a C encoder on every call, which costs more than encoding a small value;
# this one is built once (without circular-reference markers it keeps no state between calls).
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_C_ENCODE = (
    _c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else None
)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no insignificant whitespace, ASCII only, shortest round-trip floats, no NaN/Infinity."""
    # Scalars are most of what is digested (task inputs and outputs): skip the encoder's set-up.
    t = type(obj)
    if t is int:
        return int.__repr__(obj)
    if t is str:
        return encode_basestring_ascii(obj)
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(obj, 0))
    return _ENCODER.encode(obj)


def canonical_bytes(obj: Any) -> bytes:
    return canonical_json(obj).encode("utf-8")


_sha256 = hashlib.sha256


def sha256_hex(data: bytes) -> str:
    return _sha256(data).hexdigest()


def digest(obj: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``obj``."""
    return "sha256:" + _sha256(canonical_json(obj).encode("ascii")).hexdigest()  # canonical JSON is ASCII
