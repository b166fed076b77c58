"""The corpus annotation format, and the plugin's entry point and error codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.typing.typing_corpus import parse

mypy_plugin = pytest.importorskip("typedflow.mypy_plugin")


def test_expectation_comments(tmp_path: Path) -> None:
    src = tmp_path / "bad_example.py"
    src.write_text(
        '"""Docstring with # E: not-a-comment inside a string."""\n'
        "# xfail[tracer]: a reason, with punctuation\n"
        "x = 1  # E: arg-type, call-arg\n"
        'y = "#"  # E[mypy]: typedflow-branch-output  # E[tracer]: arg-type\n'
        "z = 2  # E: typedflow-format  # noqa: UP031\n"
    )
    case = parse(src)
    assert case.expected["mypy"] == {
        (3, "arg-type"),
        (3, "call-arg"),
        (4, "typedflow-branch-output"),
        (5, "typedflow-format"),
    }
    assert case.expected["tracer"] == {(3, "arg-type"), (3, "call-arg"), (4, "arg-type"), (5, "typedflow-format")}
    assert case.xfail == {"tracer": "a reason, with punctuation"}
    assert not case.good


def test_plugin_entry_point_and_codes() -> None:
    assert mypy_plugin.plugin("2.4.1") is mypy_plugin.TypedflowPlugin
    from mypy.errorcodes import error_codes

    for code in (
        "truthiness",
        "iteration",
        "arithmetic",
        "len",
        "index",
        "format",
        "call",
        "branch-output",
        "container",
        "condition",
        "otherwise",
    ):
        registered = error_codes[f"typedflow-{code}"]
        assert registered.category == "typedflow" and registered.default_enabled
