from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

# One moto session and one asl-validator for the whole suite, whichever folder asks first.
pytest_plugins = ["tests.support.aws"]

_ids = itertools.count()
MARK = re.compile(r"#\s*E:\s*([\w-]+(?:\s*,\s*[\w-]+)*)")


def import_source(tmp: Path, source: str, name: str | None = None) -> ModuleType:
    """Write ``source`` to a module file under ``tmp`` and import it (line numbers are real)."""
    name = name or f"tfcase_{next(_ids)}"
    path = tmp / f"{name}.py"
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def expected_marks(source: str) -> set[tuple[int, str]]:
    """(line, code) pairs from ``# E: code`` comments."""
    out = set()
    for i, line in enumerate(textwrap.dedent(source).lstrip("\n").splitlines(), start=1):
        m = MARK.search(line)
        if m:
            for code in m.group(1).split(","):
                out.add((i, code.strip()))
    return out


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"
