"""YAML reads a key as an implicit key only within 1024 characters: a longer spec key (a constant dict's key,
say) must still read back."""

from __future__ import annotations

import yaml
from typedflow.backends.vertex.specyaml import dump_yaml

_LOADERS = [yaml.SafeLoader, *([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])]


def test_keys_longer_than_1024_characters_read_back() -> None:
    spec = {
        "k" * 2000: {"\x85" * 300: [1, {"v" * 1023: "x" * 3000}], "b": 2},
        "short": ["k" * 5000 + '": ', "z"],
        "k" * 999: 1,
    }
    text = dump_yaml(spec, "# PIPELINE DEFINITION\n")
    for loader in _LOADERS:
        assert yaml.load(text, Loader=loader) == spec, loader
