"""``typedflow check --mypy``: mypy with the typedflow plugin, reported like the definition checks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence


def run_mypy(paths: Sequence[str], *, strict: bool = True) -> tuple[list[str], int]:
    """Run mypy (with ``typedflow.mypy_plugin``) over ``paths``; (error lines, exit status)."""
    from mypy import api

    with tempfile.TemporaryDirectory(prefix="typedflow-mypy-") as tmp:
        config = os.path.join(tmp, "mypy.ini")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write("[mypy]\nplugins = typedflow.mypy_plugin\nshow_error_codes = True\n")
        args = ["--config-file", config, "--no-error-summary", "--show-absolute-path", "--no-pretty"]
        if strict:
            args.append("--strict")
        stdout, stderr, status = api.run([*args, *paths])
    lines = [line for line in (stdout + stderr).splitlines() if ": error:" in line or ": note:" in line]
    cwd = os.getcwd() + os.sep
    return [line.removeprefix(cwd) for line in lines if ": error:" in line], status
