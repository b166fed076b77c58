"""A ``.yaml`` spec is indented JSON made safe for YAML 1.1: PyYAML (what kfp and the Vertex AI SDK load specs
with) reads back exactly the spec, whatever its strings and numbers."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typedflow.backends.vertex.specyaml import dump_yaml

# every code point, surrogates included (a str may hold a lone one)
_TEXT = st.text(st.characters(codec=None, categories=None), max_size=12)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=20
)
_LOADERS = [yaml.SafeLoader, *([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])]


def _load(text: str, loader: Any) -> Any:
    return yaml.load(text, Loader=loader)


@settings(max_examples=300, deadline=None)
@given(_JSON)
@example({"lr": 1e-05, "big": 1e16, "neg": -2.5e-300, "tiny": 5e-324, "s": "1e-05"})
@example({"nel": "a\x85b", "ls": "a\u2028b\u2029", "c1": "\x80\x9f\x7f", "bom": "\ufeff", "nc": "\ufffe\uffff"})
@example({"lone": "\ud800x\udfff", "astral": "\U0001f600", "bs": "\\\x85", "q": '"\\u0085"'})
def test_pyyaml_reads_back_the_spec(value: Any) -> None:
    text = dump_yaml(value, "# PIPELINE DEFINITION\n")
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False))
    for loader in _LOADERS:
        if loader is not yaml.SafeLoader and lone:
            continue  # libyaml reads \uD800 as an error, not a character; PyYAML's Python loader reads it
        assert _load(text, loader) == value, loader


def test_non_finite_floats_are_yaml_floats() -> None:
    got = _load(dump_yaml({"a": [math.inf, -math.inf, math.nan]}), yaml.SafeLoader)["a"]
    assert got[:2] == [math.inf, -math.inf] and math.isnan(got[2])


def test_the_text_is_the_indented_json_where_nothing_needs_fixing() -> None:
    spec = {"b": [1, 2.5, None], "a": {"x": "y"}}
    assert dump_yaml(spec) == json.dumps(spec, indent=2, sort_keys=True) + "\n"
    assert dump_yaml({"lr": 1e-05}) == '{\n  "lr": 1.0e-05\n}\n'


def test_keys_longer_than_1024_characters_read_back() -> None:
    # YAML reads a key as an implicit key only within 1024 characters (a constant dict's key may be longer)
    spec = {
        "k" * 2000: {"\x85" * 300: [1, {"v" * 1023: "x" * 3000}], "b": 2},
        "short": ["k" * 5000 + '": ', "z"],
        "k" * 999: 1,
    }
    text = dump_yaml(spec, "# PIPELINE DEFINITION\n")
    for loader in _LOADERS:
        assert _load(text, loader) == spec, loader
    # in a spec, the part scanned for them leaves out the executors (long argument strings, short keys)
    shaped = {
        "components": {"comp-a": {"k" * 1500: 1}},
        "deploymentSpec": {"executors": {"exec-a": {"args": ["x" * 5000]}}},
        "pipelineInfo": {"name": "p"},
        "root": {"dag": {"v" * 1200: ["k" * 3000]}},
    }
    text = dump_yaml(shaped)
    assert text.count("? ") == 2
    for loader in _LOADERS:
        assert _load(text, loader) == shaped, loader
