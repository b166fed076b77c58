"""Importing task code from a bundle in this process: its verified folder first on ``sys.path``.

A process imports from one bundle only (Python has one module namespace per process); a long-lived
worker that serves several bundles runs each in a process of its own (:mod:`.pool`).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from typedflow.util.boundary import BoundaryError

_ACTIVE: dict[str, Path] = {}
_LOCK = threading.Lock()


def activate(code: str, folder: Path | Callable[[], Path]) -> Path:
    """Import this process's task modules from bundle ``code`` (its verified ``folder``, or a function
    that fetches it). Asking for another bundle than the one already active raises :class:`BoundaryError`."""
    with _LOCK:
        if code in _ACTIVE:
            return _ACTIVE[code]
        if _ACTIVE:
            raise BoundaryError(f"this process already imports task code from bundle {next(iter(_ACTIVE))}, not {code}")
        path = folder if isinstance(folder, Path) else folder()
        check_unshadowed(path)
        # No bytecode is written next to the bundle's sources: its folder must keep exactly the verified files
        # (a __pycache__ there would be read on the next import without being checked).
        sys.dont_write_bytecode = True
        sys.path.insert(0, str(path))
        importlib.invalidate_caches()
        _ACTIVE[code] = path
        return path


def active() -> str | None:
    with _LOCK:
        return next(iter(_ACTIVE), None)


def check_unshadowed(folder: Path) -> None:
    """A module of the bundle that this process already imported from elsewhere would not be the
    bundle's: refuse, rather than run other code than the bundle's."""
    for entry in os.scandir(folder):
        name = entry.name[:-3] if entry.name.endswith(".py") else entry.name
        if not name.isidentifier() or not (entry.name.endswith(".py") or entry.is_dir()):
            continue
        mod = sys.modules.get(name)
        where = getattr(mod, "__file__", None) if mod is not None else None
        if mod is not None and not (where and Path(where).resolve().is_relative_to(folder.resolve())):
            raise BoundaryError(
                f"the bundle's module {name!r} is already imported in this process from {where or 'a built-in'}: "
                "rename it (a bundle's top-level names must not be those of the standard library or of "
                "installed packages)"
            )


__all__ = ["activate", "active", "check_unshadowed"]
