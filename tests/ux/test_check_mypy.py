"""`typedflow check --mypy`: both checkers' findings merged by file, line and code, each defect once
in typedflow's words, and a summary that counts by checker and by workflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from typedflow.cli.check_mypy import merge

ROOT = Path(__file__).resolve().parents[2]

MODULE = """\
from typedflow import task, workflow


@task
def f(x: int) -> int:
    return x


@task
def broken(x: int) -> str:
    return x


@workflow
def w(x: str) -> int:
    y: str = f(x=1)
    if f(x=2) > 1:
        pass
    return f(x=x)


@workflow
def fine(x: int) -> str:
    return broken(x=x)
"""


def test_merge_keeps_one_line_per_file_line_and_code() -> None:
    ours = [
        'a.py:9: error: Argument "x" to task "f" has incompatible type "str" (from input "x"); expected "int"'
        "  [arg-type]",
        "a.py:3: error: truth-testing ...  [typedflow-truthiness]",
        "b.py:1: error: cannot import b: ModuleNotFoundError: No module named 'zz'",
    ]
    mypy = [
        'a.py:9: error: Argument "x" to "__call__" of "Task" has incompatible type "str"; expected "int"  [arg-type]',
        "a.py:9: error: Missing positional argument  [call-arg]",  # same line, another code: another defect
        "a.py:3: error: truth-testing ...  [typedflow-truthiness]",
        "a.py:1: error: Incompatible types in assignment  [assignment]",
        "a.py:3: note: see the docs",
    ]
    m = merge(ours, [line for line in mypy if ": error:" in line])
    assert m.lines == [
        "a.py:1: error: Incompatible types in assignment  [assignment]",
        "a.py:3: error: truth-testing ...  [typedflow-truthiness]",
        ours[0],
        "a.py:9: error: Missing positional argument  [call-arg]",
        ours[2],
    ]
    assert (m.ours, m.both, m.mypy_only) == (3, 2, 2)
    # paths are compared as files: ./a.py is a.py
    assert merge(["./a.py:2: error: x  [c]"], ["a.py:2: error: y  [c]"]).lines == ["./a.py:2: error: x  [c]"]


@pytest.mark.timeout(120)
def test_check_mypy_reports_each_defect_once_and_counts_right(tmp_path: Path) -> None:
    (tmp_path / "mixed.py").write_text(MODULE)
    r = subprocess.run(
        [sys.executable, "-m", "typedflow", "check", "--mypy", "mixed.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        'mixed.py:11: error: Incompatible return value type (got "int", expected "str")  [return-value]',
        'mixed.py:16: error: Incompatible types in assignment (expression has type "int", variable has type "str")'
        "  [assignment]",
        "mixed.py:17: error: truth-testing a condition on task outputs inside a workflow (an `if`, `and`, `or` or "
        "`not`); use `with when(cond):` and combine conditions with &, |, ~  [typedflow-truthiness]",
        'mixed.py:19: error: Argument "x" to task "f" has incompatible type "str" (from input "x"); '
        'expected "int"  [arg-type]',
    ], r.stdout
    assert "__call__" not in r.stdout
    # w is invalid (both checkers); fine only calls a task whose body is wrong, which is not its wiring
    assert r.stderr == "Found 4 errors (2 by both checkers, 2 by mypy only; 1 of 2 workflows invalid)\n"
    # without --mypy: typedflow's own findings only, counted the same way
    r = subprocess.run(
        [sys.executable, "-m", "typedflow", "check", "mixed.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 2
    assert r.stderr == "Found 2 errors (1 of 2 workflows invalid)\n"


@pytest.mark.timeout(120)
def test_a_mypy_only_finding_in_a_workflow_body_makes_it_invalid(tmp_path: Path) -> None:
    (tmp_path / "only_mypy.py").write_text(
        "from typedflow import task, workflow\n\n\n@task\ndef f(x: int) -> int:\n    return x\n\n\n"
        "@workflow\ndef w(x: int) -> int:\n    y: str = f(x=x)\n    return f(x=x)\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "typedflow", "check", "--mypy", "only_mypy.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 1
    assert r.stderr == "Found 1 error (1 by mypy only; 1 of 1 workflows invalid)\n"
