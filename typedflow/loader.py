"""Finding user workflows: ``path/to/file.py:name`` or ``package.module:name``."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from types import ModuleType
from typing import Any

from typedflow.errors import TypedflowError
from typedflow.source import display_path


class LoadError(TypedflowError):
    """A module that cannot be imported, or a name that is not a workflow."""

    def __init__(self, message: str, file: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.file = file
        self.line = line

    def render(self) -> str:
        where = (f"{self.file}:{self.line}: " if self.line else f"{self.file}: ") if self.file else ""
        return f"{where}error: {self}"


def split_spec(spec: str) -> tuple[str, str | None]:
    """``file.py:wf`` → ("file.py", "wf"); a bare module or file → (it, None)."""
    target, sep, name = spec.rpartition(":")
    if not sep or (len(target) == 1 and target.isalpha()):  # no colon (or a Windows drive)
        return spec, None
    return target, name or None


def import_target(target: str) -> ModuleType:
    """Import a module by dotted name or file path. A file is imported under its stem with its
    folder on ``sys.path``, so worker processes can import it by the same name."""
    if target.endswith(".py") or os.path.sep in target or os.path.exists(target):
        path = os.path.abspath(target)
        if not os.path.exists(path):
            raise LoadError(f"no such file: {target}")
        folder, filename = os.path.split(path)
        name = filename[:-3] if filename.endswith(".py") else filename
        if folder not in sys.path:
            sys.path.insert(0, folder)
        existing = sys.modules.get(name)
        if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
            return existing
        module_name = name
    else:
        module_name = target
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except TypedflowError:
        raise
    except SyntaxError as exc:
        raise LoadError(f"cannot import {target}: SyntaxError: {exc.msg}", display_path(exc.filename or target),
                        exc.lineno or 0) from None
    except Exception as exc:
        file, line = target, 0
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            # the innermost frame of the user's code: not the import machinery, not this loader
            if "importlib" not in frame.f_code.co_filename and frame.f_code.co_filename != __file__:
                file, line = display_path(frame.f_code.co_filename), lineno
        raise LoadError(f"cannot import {target}: {type(exc).__name__}: {exc}", file, line) from None


def load_workflow(spec: str) -> Any:
    """The ``Workflow`` named by ``spec`` (the module's only workflow when no name is given)."""
    from typedflow.dsl import Workflow

    target, name = split_spec(spec)
    module = import_target(target)
    if name is None:
        found = [v for v in vars(module).values() if isinstance(v, Workflow) and v.__module__ == module.__name__]
        if len(found) != 1:
            names = ", ".join(sorted(w.name for w in found)) or "none"
            raise LoadError(f"{target} defines {len(found)} workflows ({names}); name one as {target}:NAME")
        return found[0]
    obj = getattr(module, name, None)
    if not isinstance(obj, Workflow):
        raise LoadError(f"{target} has no workflow named {name!r}")
    return obj
