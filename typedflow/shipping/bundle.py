"""The code bundle: the source root that holds a workflow's module, content-addressed.

Its digest is the sha256 of a canonical manifest (format, sorted paths and the sha256 of each file's
normalized content), so it does not depend on modification times, permissions, file order or line
endings of Python sources; the zip is written deterministically from the same contents (fixed times,
sorted names, one mode), so the same code gives the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from typedflow import ir
from typedflow.errors import TypedflowError
from typedflow.ir.canonical import canonical_json

from .select import Selection, Skipped, select

FORMAT = "typedflow-bundle-1"
MAX_TOTAL = 64 * 1024 * 1024
MAX_FILE = 16 * 1024 * 1024
MAX_FILES = 10_000
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BundleError(TypedflowError):
    """A bundle that cannot be made: too large, no root, a task whose module it would not hold."""


@attrs.frozen
class Limits:
    total: int = MAX_TOTAL
    file: int = MAX_FILE
    files: int = MAX_FILES


@attrs.frozen
class Bundle:
    root: Path
    files: tuple[tuple[str, bytes], ...] = attrs.field(repr=False)  # (POSIX path, normalized content)
    skipped: tuple[Skipped, ...]
    digest: str  # sha256:<hex>

    @property
    def hex(self) -> str:
        return self.digest.removeprefix("sha256:")

    @property
    def size(self) -> int:
        return sum(len(b) for _, b in self.files)

    def names(self) -> frozenset[str]:
        return frozenset(p for p, _ in self.files)

    def zip_bytes(self) -> bytes:
        """The bundle as a zip: members in path order, fixed times and modes, deflated."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for path, data in self.files:
                info = zipfile.ZipInfo(path, ZIP_TIME)
                info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so the mode above is read as one
                zf.writestr(info, data)
        return buf.getvalue()


def normalize(path: str, data: bytes) -> bytes:
    """Python sources with LF line endings (a checkout with CRLF gives the same bundle)."""
    if path.endswith((".py", ".pyi")):
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def manifest_digest(entries: Iterable[tuple[str, str]]) -> str:
    """``sha256:`` + sha256 of the canonical manifest of (path, sha256 hex of content) pairs."""
    doc = {"format": FORMAT, "files": sorted([p, h] for p, h in entries)}
    return "sha256:" + hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def build(root: Path, limits: Limits = Limits()) -> Bundle:
    """The bundle of ``root``; :class:`BundleError` when it is missing or larger than ``limits``."""
    if not root.is_dir():
        raise BundleError(f"code root {root} is not a folder")
    sel = select(root)
    return from_selection(sel, limits)


def from_selection(sel: Selection, limits: Limits = Limits()) -> Bundle:
    skipped = list(sel.skipped)
    chosen: list[str] = []
    for rel in sel.files:
        if rel.split("/", 1)[0] == "typedflow":
            # typedflow is installed where tasks run; a copy in the bundle would never be imported
            skipped.append(Skipped(rel, "typedflow itself (installed where tasks run, never shipped)"))
        else:
            chosen.append(rel)
    if len(chosen) > limits.files:
        raise BundleError(
            f"the code root {sel.root} has {len(chosen):,} files to bundle, more than {limits.files:,}: "
            f"exclude what is not code in {sel.root / '.typedflowignore'} (gitignore syntax), or choose a "
            "smaller --code-root"
        )
    files: list[tuple[str, bytes]] = []
    total = 0
    sizes: list[tuple[int, str]] = []
    for rel in chosen:
        path = sel.root / rel
        try:
            size = os.lstat(path).st_size
            if size > limits.file:
                sizes.append((size, rel))
                total += size
                continue
            data = normalize(rel, path.read_bytes())
        except OSError as exc:
            raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from None
        total += len(data)
        sizes.append((len(data), rel))
        files.append((rel, data))
    big = [f"{rel} ({n / 2**20:.1f} MiB)" for n, rel in sorted(sizes, reverse=True)[:5]]
    if any(n > limits.file for n, _ in sizes) or total > limits.total:
        raise BundleError(
            f"the code bundle of {sel.root} would be {total / 2**20:.1f} MiB (at most {limits.total / 2**20:.0f} "
            f"MiB, {limits.file / 2**20:.0f} MiB a file); the largest files: {', '.join(big)}. Exclude data and "
            f"models in {sel.root / '.typedflowignore'} (gitignore syntax) and keep them in the artifact store, "
            "or choose a smaller --code-root"
        )
    digest = manifest_digest((rel, hashlib.sha256(data).hexdigest()) for rel, data in files)
    return Bundle(sel.root, tuple(files), tuple(sorted(skipped, key=lambda s: s.path)), digest)


# ----------------------------------------------------------------------------- the code root


def module_root(module: str, file: str) -> Path:
    """The folder a module was imported from: ``/src/pkg/mod.py`` as ``pkg.mod`` → ``/src``."""
    path = Path(file).resolve()
    parts = module.split(".")
    rel = PurePosixPath(*parts[:-1], path.name) if path.name != "__init__.py" else PurePosixPath(*parts, path.name)
    if module in ("__main__", "__mp_main__") or not path.as_posix().endswith("/" + rel.as_posix()):
        return path.parent  # a script, or a module whose file is not where its name says
    root = path
    for _ in rel.parts:
        root = root.parent
    return root


def detect_root(doc: ir.WorkflowIR) -> Path:
    """The source root of the workflow's module, as this process imported it."""
    name = doc.workflow.module
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if not file:
        raise BundleError(
            f"cannot tell where the code of workflow {doc.workflow.name!r} (module {name!r}) lives: "
            "give --code-root DIR (the folder its modules are imported from)"
        )
    return module_root(name, file)


def _candidates(module: str) -> tuple[str, str]:
    parts = module.split(".")
    return "/".join(parts) + ".py", "/".join(parts) + "/__init__.py"


def task_modules(doc: ir.WorkflowIR) -> dict[str, list[str]]:
    """Each module that defines tasks, with its tasks' names."""
    out: dict[str, list[str]] = {}
    for t in sorted(doc.tasks, key=lambda t: t.name):
        out.setdefault(t.module, []).append(t.name)
    return out


def _installed(module: str) -> bool:
    """Whether ``module`` is an installed library here (so the environment, not the bundle, ships it)."""
    from typedflow.dsl.source import _LIBRARY_ROOTS

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None) if spec is not None else None
    if not origin:
        return False
    real = os.path.realpath(origin)
    return any(real.startswith(root + os.sep) for root in _LIBRARY_ROOTS)


def check_tasks(bundle: Bundle, doc: ir.WorkflowIR) -> list[str]:
    """A problem for each module of tasks the bundle does not hold (and no installed package has)."""
    names = bundle.names()
    skipped = {s.path.rstrip("/"): s.why for s in bundle.skipped}
    problems: list[str] = []
    for module, tasks in sorted(task_modules(doc).items()):
        which = f"task{'s' if len(tasks) > 1 else ''} {', '.join(tasks)}"
        if module in ("__main__", "__mp_main__"):
            problems.append(
                f"{which}: defined in a script run as __main__, which no other process can import; define "
                "them in a module and name the workflow as FILE.py:WORKFLOW"
            )
            continue
        if any(c in names for c in _candidates(module)) or _installed(module):
            continue
        parts = module.split(".")
        places = [*_candidates(module), *("/".join(parts[:i]) for i in range(1, len(parts)))]
        why = next(
            (f"{p}: {skipped[p]}" for p in places if p in skipped), f"no {_candidates(module)[0]} under {bundle.root}"
        )
        problems.append(f"{which}: module {module!r} is not in the code bundle ({why})")
    return problems


def listing(bundle: Bundle) -> list[dict[str, Any]]:
    """What ``typedflow bundle --list`` prints: each file with its size and sha256."""
    return [{"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for rel, data in bundle.files]


__all__ = [
    "FORMAT",
    "Bundle",
    "BundleError",
    "Limits",
    "build",
    "check_tasks",
    "detect_root",
    "listing",
    "manifest_digest",
    "module_root",
    "normalize",
]
