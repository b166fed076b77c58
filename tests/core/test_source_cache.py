"""The parsed functions of a source file are kept for its latest version only."""

from __future__ import annotations

from pathlib import Path

from typedflow.dsl import source


def test_a_rewritten_module_keeps_one_parsed_version(tmp_path: Path) -> None:
    path = tmp_path / "flows.py"
    name = str(path)
    for version in range(5):
        body = "".join(f"def f{i}(x):\n    return x + {version}\n\n" for i in range(version + 1))
        path.write_text(body)
        found = source._functions_of(name)
        assert sorted(n.name for n in found.values()) == [f"f{i}" for i in range(version + 1)]
        assert source._functions_of(name) is found  # parsed once per version
    assert [k for k in source._MODULE_FUNCS if k == name] == [name]
    assert len(source._MODULE_FUNCS[name][1]) == 5
