"""`typedflow bundle` (what goes in, the exit codes), compile/deploy refusing a bundle that would not
hold a task's module, and the packaging: every package of the source tree is in the wheel's list."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from tests.ship.projects import ROOT, forget, unique, write_project
from typedflow.cli import main
from typedflow.shipping.bundle import build

FLOWS = """
from typedflow import task, workflow

from helpers import double


@task
def inc(x: int) -> int:
    return double(x) + 1


@workflow
def flow(x: int) -> int:
    return inc(x=x)
"""


def test_bundle_lists_what_goes_in_and_why_the_rest_stays_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = unique("shipcli")
    project = write_project(
        tmp_path / "p",
        {
            f"{module}.py": FLOWS,
            "helpers.py": "def double(x: int) -> int:\n    return 2 * x\n",
            "tests/test_flow.py": "",
            "data/big.csv": "a\n",
        },
    )
    spec = f"{project / (module + '.py')}:flow"
    try:
        assert main(["bundle", spec, "--list"]) == 0
        out = capsys.readouterr().out
        assert f"  {module}.py" in out and "  helpers.py" in out
        assert "skipped  tests/  (excluded by built-in rules)" in out
        assert "skipped  data/  (excluded by built-in rules)" in out
        digest = build(project).digest
        assert out.strip().splitlines()[-1].startswith(f"{digest}  2 files")
        assert main(["bundle", spec, "--json", "-o", str(tmp_path / "b.zip")]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["digest"] == digest and [f["path"] for f in data["files"]] == sorted(["helpers.py", f"{module}.py"])
        with zipfile.ZipFile(tmp_path / "b.zip") as zf:
            assert sorted(zf.namelist()) == sorted(["helpers.py", f"{module}.py"])
        # the module excluded: bundle says so (exit 1); compile and deploy refuse (exit 2) and write nothing
        (project / ".typedflowignore").write_text(f"{module}.py\n")
        assert main(["bundle", spec]) == 1
        assert (
            f"module '{module}' is not in the code bundle ({module}.py: excluded by .typedflowignore)"
            in capsys.readouterr().err
        )
        out_file = tmp_path / "out.json"
        assert main(["compile", spec, "--target", "stepfunctions", "--bucket", "s3://b/p", "-o", str(out_file)]) == 2
        assert "is not in the code bundle" in capsys.readouterr().err and not out_file.exists()
        assert main(["compile", spec, "--target", "stepfunctions", "--no-bundle", "-o", str(out_file)]) == 0
        assert '"code"' not in out_file.read_text()
        assert main(["bundle", spec, "--code-root", str(tmp_path / "nowhere")]) == 2
        assert "not a folder" in capsys.readouterr().err
    finally:
        forget(module, "helpers")


def test_bundle_of_an_ir_document_needs_a_code_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = unique("shipcli")
    project = write_project(tmp_path / "p", {f"{module}.py": FLOWS, "helpers.py": "def double(x):\n    return x\n"})
    ir_file = tmp_path / "flow.ir.json"
    try:
        assert main(["compile", f"{project / (module + '.py')}:flow", "--target", "ir", "-o", str(ir_file)]) == 0
        capsys.readouterr()
        assert main(["bundle", "--ir", str(ir_file)]) == 2
        assert "--code-root" in capsys.readouterr().err
        assert main(["bundle", "--ir", str(ir_file), "--code-root", str(project)]) == 0
        assert main(["compile", "--ir", str(ir_file), "--target", "stepfunctions", "--code-root", str(project)]) == 0
        assert f'"code": "{build(project).digest}"' in capsys.readouterr().out
    finally:
        forget(module, "helpers")


def test_every_package_of_the_source_tree_is_installed() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import setup  # the repository's setup.py: the packages the wheel gets
    finally:
        sys.path.remove(str(ROOT))
    expected = {"typedflow"}
    for top, name in ((ROOT / "typedflow", "typedflow"), (ROOT / "backends", "typedflow.backends")):
        for init in top.rglob("__init__.py"):
            rel = init.parent.relative_to(top).parts
            expected.add(".".join((name, *rel)))
    assert set(setup.PACKAGES) == expected
    assert "typedflow.backends.stepfunctions.states" in setup.PACKAGES
