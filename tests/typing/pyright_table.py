"""Run pyright (standard mode, no plugin) over the corpus and print the table of docs/typing.md.

    python -m tests.typing.pyright_table        # needs `pyright` (pip install pyright; it fetches
                                                # the pyright npm package on first run)

For every line where the corpus expects a mypy error, the table says whether pyright reports an
error on that line too, and with which rule.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.typing.typing_corpus import load_cases

CONFIG = Path(__file__).parent / "pyrightconfig.json"


def run_pyright() -> dict[str, dict[int, set[str]]]:
    """pyright's errors: file name -> line -> rules."""
    exe = shutil.which("pyright") or str(Path(sys.executable).parent / "pyright")
    proc = subprocess.run([exe, "-p", str(CONFIG), "--outputjson"], capture_output=True, text=True, check=False)
    report = json.loads(proc.stdout)
    found: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for d in report["generalDiagnostics"]:
        if d["severity"] == "error":
            found[os.path.basename(d["file"])][d["range"]["start"]["line"] + 1].add(d.get("rule", "error"))
    return found


def main() -> None:
    found = run_pyright()
    print("| case | line | expected (mypy + plugin) | pyright, standard mode |")
    print("| --- | --- | --- | --- |")
    for case in load_cases():
        name = case.path.name
        by_line: dict[int, list[str]] = defaultdict(list)
        for line, code in sorted(case.expected["mypy"]):
            by_line[line].append(code)
        if not by_line:
            extra = found.get(name, {})
            verdict = (
                "clean"
                if not extra
                else "errors: " + ", ".join(f"{ln} {'/'.join(sorted(r))}" for ln, r in sorted(extra.items()))
            )
            print(f"| {case.name} | | — | {verdict} |")
            continue
        for line, codes in sorted(by_line.items()):
            rules = found.get(name, {}).get(line)
            caught = ", ".join(sorted(rules)) if rules else "not reported"
            print(f"| {case.name} | {line} | {', '.join(codes)} | {caught} |")
        unexpected = sorted(set(found.get(name, {})) - set(by_line))
        for line in unexpected:
            print(f"| {case.name} | {line} | — | {', '.join(sorted(found[name][line]))} |")


if __name__ == "__main__":
    main()
