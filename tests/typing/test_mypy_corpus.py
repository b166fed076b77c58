"""mypy (``--strict`` with the typedflow plugin) over the whole corpus, in one run.

Every case must produce exactly its expected (line, code) pairs: an unexpected error fails as
much as a missing one.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.typing.typing_corpus import CASES_DIR, Case, Expectation, describe, load_cases

mypy_api = pytest.importorskip("mypy.api")

CONFIG = Path(__file__).parent / "mypy.ini"
REPO = Path(__file__).resolve().parents[2]
CASES = load_cases()
# "path:line: error: message  [code]" (column numbers are off in mypy.ini).
_LINE = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+): (?P<severity>error|note): (?P<msg>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)


class MypyRun:
    """The reported errors of one mypy run, by case file."""

    def __init__(self, stdout: str, stderr: str, status: int, seconds: float) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.status = status
        self.seconds = seconds
        self.by_file: dict[Path, dict[tuple[int, str], str]] = {}
        self.elsewhere: list[str] = []
        for raw in stdout.splitlines():
            m = _LINE.match(raw)
            if not m or m["severity"] != "error":
                continue
            path = (REPO / m["path"]).resolve()
            if path.parent != CASES_DIR.resolve():
                self.elsewhere.append(raw)
                continue
            key = (int(m["line"]), m["code"] or "misc")
            self.by_file.setdefault(path, {})[key] = m["msg"]


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    cache = tmp_path_factory.mktemp("mypy-cache")
    args = [
        "--config-file",
        str(CONFIG),
        "--cache-dir",
        str(cache),
        "--no-color-output",
        "--no-error-summary",
        "--hide-error-context",
        *[str(c.path.relative_to(REPO)) for c in CASES],
    ]
    cwd = os.getcwd()
    os.chdir(REPO)  # mypy_path and the reported paths are relative to the repository
    try:
        start = time.perf_counter()
        stdout, stderr, status = mypy_api.run(args)
        seconds = time.perf_counter() - start
    finally:
        os.chdir(cwd)
    return MypyRun(stdout, stderr, status, seconds)


def test_corpus_size() -> None:
    good = [c for c in CASES if c.good]
    bad = [c for c in CASES if not c.good]
    assert len(CASES) >= 40 and good and bad
    for c in bad:
        assert c.expected["mypy"] or c.expected["tracer"], f"{c.name} has no expectations"
    for c in good:
        assert not c.expected["mypy"] and not c.expected["tracer"], f"{c.name} is named good_ but expects errors"


def test_mypy_ran(mypy_run: MypyRun) -> None:
    assert mypy_run.status in (0, 1), mypy_run.stderr or mypy_run.stdout
    assert not mypy_run.elsewhere, "errors outside the corpus:\n" + "\n".join(mypy_run.elsewhere)
    assert mypy_run.seconds < 120, f"mypy took {mypy_run.seconds:.1f}s"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_mypy_case(case: Case, mypy_run: MypyRun, request: pytest.FixtureRequest) -> None:
    if "mypy" in case.xfail:
        request.applymarker(pytest.mark.xfail(reason=case.xfail["mypy"], strict=True))
    details = mypy_run.by_file.get(case.path.resolve(), {})
    actual: Expectation = set(details)
    expected = case.expected["mypy"]
    assert actual == expected, f"{case.path.name}:\n" + describe(expected, actual, details)


def test_check_mypy_runs_both_checkers(tmp_path: Path) -> None:
    """`typedflow check --mypy` reports the definition-time errors and mypy's (plugin on)."""
    import subprocess
    import sys

    mod = tmp_path / "wiring.py"
    mod.write_text(
        "from typedflow import task, workflow\n\n\n"
        "@task\ndef f(x: int) -> int:\n    return x\n\n\n"
        "@workflow\ndef w(x: str) -> int:\n    return f(x=x)\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "typedflow", "check", "--mypy", str(mod)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 1
    lines = [line for line in r.stdout.splitlines() if ": error:" in line]
    # both checkers find it; it is shown once, in the definition-time checker's words
    assert lines == [
        'wiring.py:11: error: Argument "x" to task "f" has incompatible type "str" (from input "x"); expected "int"'
        "  [arg-type]"
    ], r.stdout
    assert r.stderr == "Found 1 error (1 by both checkers; 1 of 1 workflows invalid)\n"
