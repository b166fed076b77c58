"""The definition-time checker over the same corpus: one table, two checkers, one truth.

Importing a case traces its workflows. A case with tracer expectations must raise
``WorkflowDefinitionError`` with problems at exactly the expected (line, code) pairs; any other
case must import cleanly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.typing.typing_corpus import Case, Expectation, describe, load_cases
from typedflow import WorkflowDefinitionError
from typedflow.dsl.srcpaths import locate
from typedflow.errors import Problem

CASES = load_cases()


def _import(path: Path) -> None:
    name = f"typedflow_typing_case_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)


def _split(problems: tuple[Problem, ...], path: Path) -> tuple[dict[tuple[int, str], str], list[str]]:
    """Problems in the case file by (line, code), and the rendering of any located elsewhere."""
    here: dict[tuple[int, str], str] = {}
    elsewhere: list[str] = []
    for p in problems:
        if locate(p.loc.file) == str(path.resolve()):
            here[(p.loc.line, p.code)] = p.message
        else:
            elsewhere.append(p.render())
    return here, elsewhere


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_definition_checker_case(case: Case, request: pytest.FixtureRequest) -> None:
    if "tracer" in case.xfail:
        request.applymarker(pytest.mark.xfail(reason=case.xfail["tracer"], strict=True))
    expected = case.expected["tracer"]
    if not expected:
        _import(case.path)
        return
    with pytest.raises(WorkflowDefinitionError) as info:
        _import(case.path)
    details, elsewhere = _split(info.value.problems, case.path)
    actual: Expectation = set(details)
    report = describe(expected, actual, details)
    if elsewhere:
        report += "\n  reported outside the case file:\n" + "\n".join(f"    {r}" for r in elsewhere)
    assert actual == expected and not elsewhere, f"{case.path.name}:\n{report}"
