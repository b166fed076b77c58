"""Code digests computed where a bundle is extracted equal those computed when the workflow was
compiled (the runtime's code-digest check is the guard), and the request field that names the bundle."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typedflow.backends.stepfunctions.request import parse_request

from tests.ship.projects import forget, load, unique, write_project
from typedflow.shipping import unpack
from typedflow.util.boundary import BoundaryError

FLOWS = """
from typedflow import task, workflow

from {helpers} import LIMIT, clip


@task
def bounded(x: int) -> int:
    return clip(x) + OFFSET


OFFSET = 3


@workflow
def flow(x: int) -> int:
    return bounded(x=x)
"""
HELPERS = """
LIMIT = 10


def clip(x: int) -> int:
    return min(x, LIMIT)
"""


def test_code_digests_from_the_code_cache_equal_the_compiled_ones(tmp_path: Path) -> None:
    module, helpers = unique("shipdig"), unique("shipdigh")
    project = write_project(tmp_path / "p", {f"{module}.py": FLOWS.format(helpers=helpers), f"{helpers}.py": HELPERS})
    try:
        wf, shipped = load(project, module, "flow")
    finally:
        forget(module, helpers)
    compiled = wf.ir.task("bounded").code_digest
    assert shipped.bundle is not None
    folder = unpack.extract(io.BytesIO(shipped.bundle.zip_bytes()), shipped.bundle.digest, tmp_path / "cache")
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
        f"m = importlib.import_module({module!r}); print(m.bounded.template.code_digest)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", probe, str(folder)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == compiled
    # and a changed helper constant is a changed digest: the guard would refuse the old IR
    (project / f"{helpers}.py").write_text(HELPERS.replace("LIMIT = 10", "LIMIT = 11"))
    try:
        wf2, _ = load(project, module, "flow")
    finally:
        forget(module, helpers)
    assert wf2.ir.task("bounded").code_digest != compiled


BASE = {"v": 1, "ir": "sha256:" + "a" * 64, "task": "t", "run": "r1", "node": "t", "args": {}}


def test_a_request_names_its_bundle_by_digest() -> None:
    assert parse_request({**BASE, "code": "sha256:" + "b" * 64}).code == "sha256:" + "b" * 64
    assert parse_request(BASE).code is None
    for bad in ("sha256:../../etc/passwd", "b" * 64, 7, "sha256:" + "B" * 64):
        with pytest.raises(BoundaryError, match="request field 'code'"):
            parse_request({**BASE, "code": bad})


def test_a_runtime_refuses_a_second_bundle_in_one_process(tmp_path: Path) -> None:
    code = """
import json, sys
from pathlib import Path
from typedflow.util.boundary import BoundaryError
from typedflow.shipping.imports import activate
a, b = Path(sys.argv[1]), Path(sys.argv[2])
a.mkdir(); b.mkdir()
activate("sha256:" + "1" * 64, a)
assert activate("sha256:" + "1" * 64, a) == a
try:
    activate("sha256:" + "2" * 64, b)
except BoundaryError as exc:
    print(json.dumps(str(exc)))
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a"), str(tmp_path / "b")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "already imports task code from bundle sha256:111" in json.loads(done.stdout)


def test_a_bundle_module_named_like_an_imported_one_is_refused(tmp_path: Path) -> None:
    code = """
import sys
from pathlib import Path
from typedflow.util.boundary import BoundaryError
from typedflow.shipping.imports import activate
folder = Path(sys.argv[1]); folder.mkdir(); (folder / "json.py").write_text("x = 1")
try:
    activate("sha256:" + "3" * 64, folder)
except BoundaryError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "the bundle's module 'json' is already imported" in done.stdout
