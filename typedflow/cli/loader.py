"""Finding user workflows: ``path/to/file.py:name`` or ``package.module:name``."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from types import ModuleType
from typing import Any

from typedflow.dsl.srcpaths import display_path
from typedflow.errors import TypedflowError


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
        if target.endswith(".py") and not os.path.isfile(path):  # a folder, a FIFO, a device
            raise LoadError(f"{target} is not a file")
        folder, filename = os.path.split(path)
        name = filename[:-3] if filename.endswith(".py") else filename
        if folder not in sys.path:
            sys.path.insert(0, folder)
        existing = sys.modules.get(name)
        if existing is not None:
            if _is_file_of(existing, path):
                return existing
            raise _taken(target, name, existing, path)
        module = _import(target, name)
        if not _is_file_of(module, path):
            raise _taken(target, name, module, path)
        return module
    module_name = target
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return _import(target, module_name)


def _is_file_of(module: ModuleType, path: str) -> bool:
    """Whether ``module`` was loaded from ``path`` (a file, or a package directory)."""
    loaded = getattr(module, "__file__", None)
    if not loaded:
        return False
    real = os.path.realpath(loaded)
    return real in (os.path.realpath(path), os.path.realpath(os.path.join(path, "__init__.py")))


def _taken(target: str, name: str, other: ModuleType, path: str) -> LoadError:
    # Tasks are found again by module name (worker processes, cloud runtimes): a file whose name
    # is already another module's cannot be told apart from it.
    where = getattr(other, "__file__", None) or "a built-in module"
    return LoadError(
        f"cannot import {target}: the module name {name!r} is already taken by {where}; rename the file",
        display_path(path),
        0,
    )


def _import(target: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except TypedflowError:
        raise
    except SyntaxError as exc:
        raise LoadError(
            f"cannot import {target}: SyntaxError: {exc.msg}", display_path(exc.filename or target), exc.lineno or 0
        ) from None
    except Exception as exc:
        file, line = target, 0
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            # the innermost frame of the user's code: not the import machinery, not this loader
            if "importlib" not in frame.f_code.co_filename and frame.f_code.co_filename != __file__:
                file, line = display_path(frame.f_code.co_filename), lineno
        raise LoadError(f"cannot import {target}: {type(exc).__name__}: {exc}", file, line) from None


def load_workflow(spec: str) -> Any:
    """The ``Workflow`` named by ``spec`` (the module's only workflow when no name is given)."""
    from typedflow.dsl.workflows import Workflow

    target, name = split_spec(spec)
    module = import_target(target)
    if name is None:
        found = [v for v in vars(module).values() if isinstance(v, Workflow) and v.__module__ == module.__name__]
        if len(found) != 1:
            names = ", ".join(sorted(w.name for w in found)) or "none"
            raise LoadError(f"{target} defines {len(found)} workflows ({names}); name one as {target}:NAME")
        return found[0]
    return named_workflow(module, target, name)


def named_workflow(module: ModuleType, target: str, name: str) -> Any:
    """The ``Workflow`` ``module`` (imported from ``target``) defines as ``name``; a :class:`LoadError`
    naming the module's workflows if there is none."""
    from typedflow.dsl.workflows import Workflow

    obj = getattr(module, name, None)
    if not isinstance(obj, Workflow):
        known = sorted(k for k, v in vars(module).items() if isinstance(v, Workflow))
        what = "is not a workflow" if obj is not None else "is not defined there"
        choose = f"its workflows: {', '.join(known)}" if known else "it defines no workflows"
        raise LoadError(f"{target} has no workflow named {name!r} ({name} {what}); {choose}")
    return obj
