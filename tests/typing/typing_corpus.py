"""The typing corpus: small modules under ``cases/`` and the errors each must produce.

Expectations are end-of-line comments on the offending line:

* ``# E: code[, code...]`` — both checkers (mypy with the plugin, and the definition-time tracer)
  report each code on this line;
* ``# E[mypy]: code`` / ``# E[tracer]: code`` — only that checker does (docs/typing.md says why);

several may share a line (``x = f(y)  # E: typedflow-iteration  # E[tracer]: call-arg``). A
module without expectations for a checker must be clean for it. A standalone comment
``# xfail[mypy]: reason`` or ``# xfail[tracer]: reason`` marks a case that is written as it
should be but that a checker does not yet get right (the reason names what is missing).
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

CASES_DIR = Path(__file__).parent / "cases"
CHECKERS = ("mypy", "tracer")

_EXPECT = re.compile(r"#\s*E(?:\[(?P<who>mypy|tracer)\])?:\s*(?P<codes>[a-z][a-z0-9-]*(?:\s*,\s*[a-z][a-z0-9-]*)*)")
_XFAIL = re.compile(r"^#\s*xfail\[(?P<who>mypy|tracer)\]:\s*(?P<reason>.+)$")

Expectation = set[tuple[int, str]]


@dataclass
class Case:
    """One corpus module and what each checker must report for it."""

    path: Path
    expected: dict[str, Expectation] = field(default_factory=lambda: {c: set() for c in CHECKERS})
    xfail: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def good(self) -> bool:
        return self.name.startswith("good_")


def parse(path: Path) -> Case:
    """Read a case's expectations from its comments."""
    case = Case(path)
    source = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        xfail = _XFAIL.match(tok.string)
        if xfail:
            case.xfail[xfail["who"]] = xfail["reason"].strip()
            continue
        for m in _EXPECT.finditer(tok.string):
            checkers = (m["who"],) if m["who"] else CHECKERS
            for code in re.split(r"\s*,\s*", m["codes"]):
                for checker in checkers:
                    case.expected[checker].add((line, code))
    return case


def load_cases() -> list[Case]:
    return [parse(p) for p in sorted(CASES_DIR.glob("*.py"))]


def describe(expected: Expectation, actual: Expectation, details: dict[tuple[int, str], str]) -> str:
    """A readable diff between expected and reported (line, code) pairs."""
    lines = []
    for key in sorted(expected - actual):
        lines.append(f"  missing  line {key[0]}: [{key[1]}]")
    for key in sorted(actual - expected):
        lines.append(f"  extra    line {key[0]}: [{key[1]}] {details.get(key, '')}".rstrip())
    return "\n".join(lines)
