"""A TypedFile written as a constant in a workflow body counts by its content, wherever the code is checked out."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from typedflow import TypedFile
from typedflow.errors import InputError
from typedflow.formats import Text
from typedflow.runtime.running import RunOptions, run_workflow

FLOW = """
from pathlib import Path

from typedflow import TypedFile, task, workflow
from typedflow.formats import Text

NOTES = TypedFile.from_path(Path(__file__).parent / "data" / "notes.txt")


@task
def read(f: TypedFile[Text]) -> str:
    return f.read_text()


@workflow
def reads() -> str:
    return read(NOTES)
"""

SHOW = """
import json, sys
sys.path.insert(0, sys.argv[1])
from {pkg}.flow import reads
const = reads.ir.workflow.nodes[0].args[0].value.value
print(json.dumps({{"digest": reads.ir.digest, "const": const}}))
"""


def _package(root: Path, pkg: str, text: str) -> Path:
    (root / pkg / "data").mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "flow.py").write_text(FLOW)
    (root / pkg / "data" / "notes.txt").write_text(text)
    return root


def _show(root: Path, pkg: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SHOW.format(pkg=pkg), str(root)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_the_ir_records_the_content_not_the_checkout_path(tmp_path: Path) -> None:
    a = _package(tmp_path / "a", "constpkg", "first")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    here, there = _show(a, "constpkg"), _show(b, "constpkg")
    assert here == there
    assert here["const"] == {
        "uri": "constpkg/data/notes.txt",
        "sha256": hashlib.sha256(b"first").hexdigest(),
        "format": "typedflow.formats:Text",  # the declared format: from_path gave none
    }
    (b / "constpkg" / "data" / "notes.txt").write_text("second")
    changed = _show(b, "constpkg")
    assert changed["digest"] != here["digest"]
    assert changed["const"]["sha256"] == hashlib.sha256(b"second").hexdigest()


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    root = _package(tmp_path / "src", "construn", "first")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "construn" or m.startswith("construn.")]:
            del sys.modules[name]


def test_a_changed_constant_is_read_anew_and_a_stale_definition_refused(package: Path, tmp_path: Path) -> None:
    opts = RunOptions(store=tmp_path / "store")
    flow = importlib.import_module("construn.flow")
    assert run_workflow(flow.reads, {}, opts).value == "first"
    notes = package / "construn" / "data" / "notes.txt"
    notes.write_text("second")
    with pytest.raises(InputError, match="changed since the workflow was defined"):
        run_workflow(flow.reads, {}, opts)  # the definition recorded "first": it is not run on other content
    flow = importlib.reload(flow)  # defined again (a new process, as a rerun is): the new content, not the cache
    assert run_workflow(flow.reads, {}, opts).value == "second"
    notes.unlink()
    with pytest.raises(InputError, match=r"flow\.py:\d+.*the constant file .*notes\.txt"):
        run_workflow(flow.reads, {}, opts)


def test_from_path_keeps_a_given_format(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert TypedFile.from_path(tmp_path / "a.txt", format=Text).format is Text
