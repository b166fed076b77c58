"""Files and directories a workflow body writes as constants (see :mod:`typedflow.dsl.constfiles`), on Vertex.

The compiler names each by its content under the pipeline root, ``pipeline-root:typedflow/store/objects/
<ab>/<sha256>`` (a directory: ``.../trees/<sha256>/``), so the spec is the same wherever it is compiled and
Vertex's cache fingerprint follows the content. Deploy uploads it there (the layout of the store the task
containers write their own files to), and the container turns the name into a path under the pipeline
root it was given, then reads it only once its content matched the digest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from typedflow import ir
from typedflow.util.boundary import BoundaryError

SCHEME = "pipeline-root:"
"""The prefix of a constant's URI in the spec: the rest is its key under the pipeline root."""

_KEY = re.compile(r"typedflow/store/(?:objects/([0-9a-f]{2})/([0-9a-f]{64})|trees/([0-9a-f]{64}))")


def constant_key(sha256: str, is_dir: bool) -> str:
    """Where content ``sha256`` is under the pipeline root (the task containers' store)."""
    return f"typedflow/store/trees/{sha256}" if is_dir else f"typedflow/store/objects/{sha256[:2]}/{sha256}"


def place(doc: ir.WorkflowIR) -> ir.WorkflowIR:
    """``doc`` with each local constant file or directory named by its content under the pipeline root;
    :class:`CompileError` naming each one that did not exist when the workflow was defined."""
    from typedflow.dsl.constfiles import local_path
    from typedflow.runtime.inputs import map_constant_files

    from .dag import CompileError

    problems: list[str] = []

    def name(v: dict[str, Any], t: ir.TypeRef, where: str) -> dict[str, Any]:
        sha = v.get("sha256")
        if local_path(v) is None:
            return v  # a gs:// URI: read where it is
        if sha is None:
            problems.append(f"{where}: the constant {t.kind} {v['uri']} did not exist when the workflow was defined")
            return v
        return {**v, "uri": SCHEME + constant_key(str(sha), t.kind == "directory")}

    out = map_constant_files(doc, name)
    if problems:
        raise CompileError("; ".join(problems))
    return out


def has_local_constants(doc: ir.WorkflowIR) -> bool:
    """Whether the workflow body writes a local file or directory as a constant (deploy uploads it)."""
    from typedflow.dsl.constfiles import local_path
    from typedflow.runtime.inputs import map_constant_files

    found: list[bool] = []

    def seen(v: dict[str, Any], t: ir.TypeRef, where: str) -> dict[str, Any]:
        if local_path(v) is not None:
            found.append(True)
        return v

    map_constant_files(doc, seen)
    return bool(found)


class FileStore(Protocol):
    """A pipeline root to upload to: a folder (as a container sees it through /gcs/) or ``gs://``."""

    def exists(self, key: str) -> bool: ...
    def put_file(self, key: str, path: Path) -> None: ...


def publish_constant_files(doc: ir.WorkflowIR, store: FileStore) -> list[str]:
    """Upload each local file or directory the workflow body writes as a constant to its key (once:
    the key is its content); the keys uploaded. :class:`InputError` when one is missing, or changed
    since the workflow was defined."""
    from typedflow.errors import InputError
    from typedflow.runtime.inputs import find_constant, map_constant_files
    from typedflow.runtime.store import dir_manifest, dir_sha256, file_sha256

    done: list[str] = []

    def upload(v: dict[str, Any], t: ir.TypeRef, where: str) -> dict[str, Any]:
        is_dir = t.kind == "directory"
        path = find_constant(v, is_dir, where)
        if path is None:
            return v
        manifest = dir_manifest(path) if is_dir else [("", file_sha256(path))]
        sha = dir_sha256(manifest) if is_dir else manifest[0][1]
        if sha != v["sha256"]:
            raise InputError(f"{where}: the constant {t.kind} {path} changed since the workflow was defined")
        key = constant_key(sha, is_dir)
        for rel, _ in manifest:
            target = f"{key}/{rel}" if rel else key
            if target not in done and not store.exists(target):
                store.put_file(target, path / rel if rel else path)
                done.append(target)
        return v

    map_constant_files(doc, upload)
    return done


def resolve(value: Any, t: ir.TypeRef, root: str | None, exists: Callable[[str], bool] | None = None) -> Any:
    """``value`` (of type ``t``) with each constant named in the spec (``pipeline-root:KEY``) turned into
    ``<root>/KEY``; :class:`BoundaryError` when a name is not its digest's key, there is no root, or
    ``exists`` says nothing is there (it was not uploaded)."""
    from typedflow.runtime.execute import has_files, map_files

    if not has_files(t):
        return value

    def one(v: dict[str, Any], ft: ir.TypeRef) -> dict[str, Any]:
        uri = v.get("uri") if isinstance(v, dict) else None
        if not isinstance(uri, str) or not uri.startswith(SCHEME):
            return v
        key = uri[len(SCHEME) :]
        m = _KEY.fullmatch(key)
        sha = v.get("sha256")
        is_dir = ft.kind == "directory"
        if m is None or key != constant_key(str(sha), is_dir):
            raise BoundaryError(f"file handle {uri!r} does not name the content of its sha256 {sha!r}")
        if not root:
            raise BoundaryError(f"the constant {ft.kind} {uri!r} is under the pipeline root, which was not given")
        new = f"{root.rstrip('/')}/{key}"
        if exists is not None and not exists(new):
            raise BoundaryError(
                f"the constant {ft.kind} {new} (sha256 {sha}) is not under the pipeline root: "
                "`typedflow deploy --target vertex` uploads it"
            )
        return {**v, "uri": new}

    return map_files(value, t, one)


__all__ = ["SCHEME", "constant_key", "has_local_constants", "place", "publish_constant_files", "resolve"]
