"""``typedflow check --mypy``: mypy with the typedflow plugin, reported like the definition checks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence


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
