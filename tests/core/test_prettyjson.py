"""``prettyjson.pretty`` is byte for byte ``json.dumps(..., indent=2, sort_keys=True, ensure_ascii=False)``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow.util.prettyjson import pretty

# Keys and strings full of JSON's own punctuation, quotes, escapes and non-ASCII text.
_text = st.text(alphabet=st.sampled_from([*'ab{}[],:"\\ \n\t\x00é€😀', "\u2028"]), max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=40
)


def _reference(v: Any) -> str:
    return json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(values)
def test_pretty_is_json_dumps_with_indent(v: Any) -> None:
    assert pretty(v) == _reference(v)


def test_edge_cases() -> None:
    v: Any
    for v in ({}, [], {"a": {}}, [[]], [{}, []], {"": ""}, "x", 1, -0.0, 1e-7, 1e300, None, True, [1, [2, [3, {}]]]):
        assert pretty(v) == _reference(v)
    assert pretty(float("nan")) == "NaN"
    assert pretty({"lone": "\ud800"}) == _reference({"lone": "\ud800"})  # not UTF-8: json.dumps's text all the same
    try:
        pretty(float("inf"), allow_nan=False)
    except ValueError:
        pass
    else:
        raise AssertionError("allow_nan=False must refuse infinity")


def test_deep_nesting_without_recursion() -> None:
    v: Any = 1
    for _ in range(800):  # deeper than the pure-Python encoder can go under the default recursion limit
        v = [v]
    assert pretty(v).count("\n") == 2 * 800
