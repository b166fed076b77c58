"""Running the ``typedflow`` CLI in a subprocess, from this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 60, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m typedflow *args``, its output captured as text; no stdin (a command that would wait
    for input fails instead)."""
    return subprocess.run(
        [sys.executable, "-m", "typedflow", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
