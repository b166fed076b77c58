"""Canonical JSON: one byte form for any JSON value, whichever path encodes it."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow.ir.canonical import canonical_bytes, canonical_json, digest

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


def _reference(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_canonical_json_is_the_sorted_ascii_encoding(value: object) -> None:
    text = canonical_json(value)
    assert text == _reference(value)
    assert text.isascii() and json.loads(text) == value
    assert canonical_bytes(value) == text.encode("ascii")
    assert digest(value) == "sha256:" + hashlib.sha256(_reference(value).encode("ascii")).hexdigest()


def test_scalars_and_their_digests() -> None:
    assert canonical_json(True) == "true" and canonical_json(1) == "1"  # bool is not an int here
    assert canonical_json(10**40) == str(10**40)
    assert canonical_json('é\n"') == '"\\u00e9\\n\\""'
    assert digest(5) != digest("5") != digest(5.0)


def test_what_is_not_json_is_refused_as_json_refuses_it() -> None:
    for bad, err in ((float("nan"), ValueError), ({"a": [float("inf")]}, ValueError), ({"a": object()}, TypeError)):
        for encode in (canonical_json, digest):
            try:
                encode(bad)
            except err as exc:
                assert "JSON" in str(exc)
            else:
                raise AssertionError(f"{bad!r} was encoded by {encode.__name__}")
