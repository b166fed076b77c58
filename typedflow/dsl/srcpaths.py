"""Source file paths: the stable form the IR records, and the form shown to a user.

The IR names a file relative to the root its module was imported from (``pkg/mod.py``), so the
same code gives the same IR, digest and compiled documents whatever directory it is compiled
from. Messages show the file as the user would type it: relative to the working directory.
"""

from __future__ import annotations

import os
import sys

_DISPLAY: dict[str, str] = {}
_STABLE: dict[tuple[str, str | None], str] = {}
_FOUND: dict[str, str] = {}


def display_path(filename: str) -> str:
    """An absolute path as the user typed it: relative to the working directory when under it."""
    try:
        return _DISPLAY[filename]
    except KeyError:
        pass
    shown = filename
    if os.path.isabs(filename):
        try:
            rel = os.path.relpath(filename)
            if not rel.startswith(".."):
                shown = rel
        except ValueError:
            pass
    _DISPLAY[filename] = shown
    return shown


def stable_path(filename: str, module: str | None) -> str:
    """``filename`` relative to the import root of ``module`` (POSIX separators); the display
    form when the file is not where the module name says (``__main__``, generated code)."""
    key = (filename, module)
    try:
        return _STABLE[key]
    except KeyError:
        pass
    out = display_path(filename)
    if module and module != "__main__" and os.path.isabs(filename):
        parts = module.split(".")
        norm = os.path.normpath(filename)
        for tail in (os.path.join(*parts) + ".py", os.path.join(*parts, "__init__.py")):
            if norm.endswith(os.sep + tail):
                out = tail.replace(os.sep, "/")
                break
    _STABLE[key] = out
    return out


def locate(path: str) -> str | None:
    """The absolute file a recorded path names: under an import root on ``sys.path``, or the path
    itself (absolute, or relative to the working directory); None when it is not found."""
    found = _FOUND.get(path)
    if found is not None:
        return found
    candidates = [path] if os.path.isabs(path) else [os.path.join(e or os.curdir, path) for e in sys.path]
    candidates.append(path)
    for c in candidates:
        if os.path.isfile(c):
            found = os.path.abspath(c)
            _FOUND[path] = found  # only hits are kept: sys.path may grow
            return found
    return None


def shown_path(path: str) -> str:
    """A recorded path as a user would type it (unchanged when the file cannot be found)."""
    found = locate(path)
    return display_path(found) if found is not None else path
