"""Files and directories written as constants in a workflow body (``CORPUS = TypedFile.from_path(...)``).

The IR records such a constant by its content: its sha256 when the workflow is traced, its path relative
to the import root of the workflow's module (so the IR and its digest are the same in every checkout;
a path outside that root stays absolute) and its declared format. Each target brings the content where
its tasks read it (see :func:`typedflow.runtime.inputs.store_constant_files`), finding the file again with
:func:`find` and refusing it when it no longer has the recorded content.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.formats import Format, format_key
from typedflow.runtime.store import dir_manifest, dir_sha256, file_sha256

_ANY_FORMAT = format_key(Format)


def local_path(v: dict[str, Any]) -> Path | None:
    """The local path a handle names (relative paths too), or None for a remote URI."""
    uri = str(v["uri"])
    if "://" in uri and not uri.startswith("file://"):
        return None
    return Path(uri.removeprefix("file://"))


def import_root(module: str | None, filename: str | None) -> Path | None:
    """The directory ``module`` (defined in ``filename``) was imported from; None when the file is not
    where the module name says (``__main__``, generated code)."""
    if not module or module == "__main__" or not filename:
        return None
    path = Path(os.path.abspath(filename))
    parts = module.split(".")
    tail = (*parts, "__init__.py") if path.name == "__init__.py" else (*parts[:-1], parts[-1] + ".py")
    if path.parts[-len(tail) :] != tail:
        return None
    return Path(*path.parts[: -len(tail)])


def record(v: dict[str, Any], t: ir.TypeRef, root: Path | None) -> dict[str, Any]:
    """A constant handle as the IR keeps it: by content (sha256, None when the file is missing: the run
    then says so), relative to ``root`` when under it, with the declared format when it gave none."""
    fmt = v.get("format")
    fmt = t.name if fmt in (None, _ANY_FORMAT) else fmt
    path = local_path(v)
    if path is None or v.get("sha256") is not None:
        return {**v, "format": fmt}
    path = Path(os.path.abspath(path))
    is_dir = t.kind == "directory"
    sha = None
    try:
        if is_dir and path.is_dir():
            sha = dir_sha256(dir_manifest(path))
        elif not is_dir and path.is_file():
            sha = file_sha256(path)
    except OSError:
        sha = None
    uri = path.as_posix()
    if root is not None and path.is_relative_to(root):
        uri = path.relative_to(root).as_posix()
    return {"uri": uri, "sha256": sha, "format": fmt}


def find(uri: str, is_dir: bool) -> Path | None:
    """The local file or directory a recorded constant names: absolute as is, else under an import root
    on ``sys.path`` (or the working directory); None when there is none."""
    path = Path(uri.removeprefix("file://"))
    roots = [Path()] if path.is_absolute() else [Path(e or os.curdir) for e in sys.path] + [Path()]
    for r in roots:
        c = r / path
        if c.is_dir() if is_dir else c.is_file():
            return Path(os.path.abspath(c))
    return None
