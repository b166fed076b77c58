"""Which files of a source root are code: everything but what ``.gitignore`` files, the built-in rules
and ``.typedflowignore`` exclude (gitignore syntax throughout; later rules win, ``!`` re-includes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import attrs
import pathspec

# What is not code in a Python project: version control, caches, virtual environments, builds, tests,
# data and model files, media, archives, notebooks. A project re-includes any of it in .typedflowignore.
DEFAULT_RULES = """
.git
.hg/
.svn/
__pycache__/
*.py[cod]
.venv/
venv/
.tox/
.nox/
.mypy_cache/
.pytest_cache/
.ruff_cache/
.hypothesis/
.ipynb_checkpoints/
.cache/
.typedflow/
node_modules/
build/
dist/
*.egg-info/
tests/
test/
conftest.py
test_*.py
*_test.py
data/
datasets/
*.csv
*.tsv
*.parquet
*.feather
*.arrow
*.avro
*.orc
*.jsonl
*.npy
*.npz
*.pkl
*.pickle
*.joblib
*.h5
*.hdf5
*.pt
*.pth
*.ckpt
*.safetensors
*.onnx
*.tflite
*.bin
*.db
*.sqlite
*.sqlite3
*.zip
*.tar
*.tgz
*.gz
*.bz2
*.xz
*.7z
*.whl
*.ipynb
*.png
*.jpg
*.jpeg
*.gif
*.mp3
*.mp4
*.wav
*.pdf
.DS_Store
"""
IGNORE_FILE = ".typedflowignore"


@attrs.frozen
class Rules:
    """One gitignore-style rule set. Its patterns apply to paths under ``inner`` (a folder relative to
    the root, "" for the root), taken relative to it, with ``outer`` put first (the root's place in an
    enclosing folder whose ``.gitignore`` this is)."""

    spec: pathspec.GitIgnoreSpec
    origin: str  # for messages: "built-in rules", "src/.gitignore", "/repo/.gitignore"
    inner: str = ""
    outer: str = ""

    def verdict(self, rel: str, is_dir: bool) -> bool | None:
        """True: excluded; False: re-included (a ``!`` rule); None: no rule of this set applies."""
        if self.inner:
            if not rel.startswith(self.inner + "/"):
                return None
            rel = rel[len(self.inner) + 1 :]
        path = f"{self.outer}/{rel}" if self.outer else rel
        return self.spec.check_file(path + "/" if is_dir else path).include


@attrs.frozen
class Skipped:
    path: str
    why: str


@attrs.frozen
class Selection:
    root: Path
    files: tuple[str, ...]  # POSIX paths relative to root, sorted
    skipped: tuple[Skipped, ...]


def _spec(text: str) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return ""


def _outer_rules(root: Path) -> list[Rules]:
    """``.gitignore`` files of the enclosing repository above ``root``, outermost first."""
    top = next((d for d in (root, *root.parents) if (d / ".git").exists()), None)
    if top is None or top == root:
        return []
    out: list[Rules] = []
    for d in reversed(root.parents):
        f = d / ".gitignore"
        if d.is_relative_to(top) and f.is_file():
            out.append(Rules(_spec(_read(f)), str(f), outer=root.relative_to(d).as_posix()))
    return out


def excluded_by(rel: str, is_dir: bool, rules: list[Rules]) -> str | None:
    """The origin of the rule that excludes ``rel`` (the last one that applies), or None."""
    found: str | None = None
    for r in rules:
        v = r.verdict(rel, is_dir)
        if v is True:
            found = r.origin
        elif v is False:
            found = None
    return found


def select(root: Path) -> Selection:
    """The code files under ``root``. Excluded folders are not entered (as git does), links are never
    followed; links, special files, virtual environments and excluded paths are listed as skipped."""
    root = root.resolve()
    own = root / IGNORE_FILE
    last = [Rules(_spec(_read(own)), IGNORE_FILE)] if own.is_file() and not own.is_symlink() else []
    files: list[str] = []
    skipped: list[Skipped] = []
    stack: list[tuple[Path, str, list[Rules]]] = [
        (root, "", [Rules(_spec(DEFAULT_RULES), "built-in rules"), *_outer_rules(root)])
    ]
    while stack:
        folder, rel, rules = stack.pop()
        ignore = folder / ".gitignore"
        if ignore.is_file() and not ignore.is_symlink():
            rules = [*rules, Rules(_spec(_read(ignore)), f"{rel}/.gitignore" if rel else ".gitignore", inner=rel)]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(rel or ".", f"cannot be read: {exc.strerror or exc}"))
            continue
        for e in entries:
            path = f"{rel}/{e.name}" if rel else e.name
            mode = e.stat(follow_symlinks=False).st_mode
            is_dir = stat.S_ISDIR(mode)
            why = excluded_by(path, is_dir, [*rules, *last])
            if stat.S_ISLNK(mode):
                skipped.append(Skipped(path, (why and f"excluded by {why}") or "a symbolic link (never followed)"))
            elif why is not None:
                skipped.append(Skipped(path + "/" if is_dir else path, f"excluded by {why}"))
            elif is_dir and (Path(e.path) / "pyvenv.cfg").exists():
                skipped.append(Skipped(path + "/", "a virtual environment"))
            elif is_dir:
                stack.append((Path(e.path), path, rules))
            elif not stat.S_ISREG(mode):
                skipped.append(Skipped(path, "not a regular file"))
            elif path != IGNORE_FILE:
                files.append(path)
    return Selection(root, tuple(sorted(files)), tuple(sorted(skipped, key=lambda s: s.path)))


__all__ = ["DEFAULT_RULES", "IGNORE_FILE", "Rules", "Selection", "Skipped", "excluded_by", "select"]
