"""``typedflow check --mypy``: mypy with the typedflow plugin, reported like the definition checks,
and the two checkers' findings merged into one list."""

from __future__ import annotations

import inspect
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

# "path:line: error: message  [code]", as both checkers write a finding (the code may be missing).
_FINDING = re.compile(r"^(?P<file>.+?):(?P<line>\d+): error: (?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$")


def run_mypy(paths: Sequence[str], *, strict: bool = True) -> tuple[list[str], int]:
    """Run mypy (with ``typedflow.mypy_plugin``) over ``paths``; (error lines, exit status)."""
    from mypy import api

    # Libraries without type information (scikit-learn, pandas, ...) count as Any: the point is the
    # workflows' wiring, and a module that is not installed at all is still reported.
    lines = [
        "[mypy]",
        "plugins = typedflow.mypy_plugin",
        "show_error_codes = True",
        "disable_error_code = import-untyped",
    ]
    root = _source_root()
    if root is not None:
        lines.append(f"mypy_path = {root}")
    with tempfile.TemporaryDirectory(prefix="typedflow-mypy-") as tmp:
        config = os.path.join(tmp, "mypy.ini")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        args = ["--config-file", config, "--no-error-summary", "--show-absolute-path", "--no-pretty"]
        if strict:
            args.append("--strict")
        stdout, stderr, status = api.run([*args, *paths])
    errors = [line for line in (stdout + stderr).splitlines() if ": error:" in line]
    cwd = os.getcwd() + os.sep
    return [line.removeprefix(cwd) for line in errors], status


def _source_root() -> str | None:
    """The directory holding the ``typedflow`` package when it is not in site-packages (an editable
    install from a checkout): mypy does not follow the import hooks such installs use."""
    import sysconfig

    import typedflow

    root = os.path.dirname(os.path.dirname(os.path.realpath(typedflow.__file__)))
    installed = {os.path.realpath(sysconfig.get_path(k)) for k in ("purelib", "platlib")}
    return None if root in installed else root


@attrs.frozen
class Merged:
    """The findings of both checkers, each defect once (typedflow's wording where both found it)."""

    lines: list[str]
    ours: int  # typedflow's findings
    mypy_only: int  # mypy's findings typedflow did not make
    both: int  # typedflow's findings mypy made too (its own line for them is not shown)
    mypy_only_lines: list[str]


def _key(line: str) -> tuple[str, int, str] | None:
    m = _FINDING.match(line)
    if m is None:
        return None
    return os.path.realpath(m["file"]), int(m["line"]), m["code"] or ""


def merge(ours: Sequence[str], mypy: Sequence[str]) -> Merged:
    """One list of findings, by file and line: a mypy finding at the same file, line and code as one
    of typedflow's is the same defect, shown once in typedflow's words (which name the task, the
    parameter and where the value came from)."""
    keys = {k for k in map(_key, ours) if k is not None}
    matched: set[tuple[str, int, str]] = set()
    extra = []
    for line in mypy:
        k = _key(line)
        if k is not None and k in keys:
            matched.add(k)
        else:
            extra.append(line)
    both = sum(1 for line in ours if _key(line) in matched)

    def place(item: tuple[int, str]) -> tuple[str, int, int]:
        k = _key(item[1])
        return (k[0], k[1], item[0]) if k is not None else ("", 0, item[0])

    ordered = sorted(enumerate([*ours, *extra]), key=place)  # (findings without a place come first)
    return Merged([line for _, line in ordered], len(ours), len(extra), both, extra)


def workflows_with_findings(workflows: Iterable[Any], lines: Iterable[str]) -> set[str]:
    """The names of the workflows whose function's source lines hold one of ``lines``' findings."""
    spans = []
    for wf in workflows:
        try:
            source, start = inspect.getsourcelines(wf.fn)
            path = inspect.getsourcefile(wf.fn)
        except (OSError, TypeError):
            continue
        if path is not None:
            spans.append((wf.name, os.path.realpath(path), start, start + len(source) - 1))
    hit = set()
    for line in lines:
        k = _key(line)
        if k is None:
            continue
        for name, path, first, last in spans:
            if k[0] == path and first <= k[1] <= last:
                hit.add(name)
    return hit
