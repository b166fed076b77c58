"""A run's import roots: where its task modules came from, kept for ``runs retry`` in another process."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import pytest
from typedflow.backends.local.importroots import import_roots, restore_import_roots

from typedflow.ir import codec

ROOT = Path(__file__).resolve().parents[2]


def test_a_module_of_a_package_is_rooted_where_the_package_is() -> None:
    from tests.runs import runs_flows

    assert import_roots(runs_flows.secretive.ir) == [str(ROOT)]


@pytest.mark.parametrize(
    "meta",
    [
        b'{"import_roots": "HERE"}',  # not a list
        b'{"import_roots": ["relative/dir", 7, null]}',  # not absolute paths
        b'{"import_roots": ["HERE/missing"]}',  # no such folder
        b'{"import_roots": [',  # not JSON
        b"[1, 2]",  # not an object
        b"",
    ],
)
def test_a_damaged_meta_adds_nothing_to_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meta: bytes) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)
    (tmp_path / "meta.json").write_bytes(meta.replace(b"HERE", str(tmp_path).encode()))
    restore_import_roots(tmp_path / "meta.json")
    restore_import_roots(tmp_path / "absent.json")
    assert sys.path == before


def test_roots_go_after_what_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    present = sys.path[0]
    before = sys.path.count(present)
    (tmp_path / "meta.json").write_text(f'{{"import_roots": ["{tmp_path}", "{present}"]}}')
    restore_import_roots(tmp_path / "meta.json")
    assert sys.path[-1] == str(tmp_path) and sys.path.count(present) == before  # one already there: not again


def test_an_ir_loaded_without_its_modules_has_no_roots() -> None:
    from tests.runs import runs_flows

    doc = codec.loads(codec.dumps(runs_flows.secretive.ir))
    # The same document, its tasks in a module this process never imported (a run of `run --ir`).
    doc = attrs.evolve(doc, tasks=tuple(attrs.evolve(t, module="never_imported_module") for t in doc.tasks))
    assert import_roots(doc) == []
