"""A code bundle crossing into a worker or container: verified, confined, bounded, cached by digest.

A bundle is trusted only once its content matches the digest the deployed definition names. Every
member is a confined relative path (no absolute path, no ``..``, no link, no duplicate, no folder
entry that could be mistaken for a file); sizes are counted as members are decompressed (a zip's
declared sizes are not believed), against per-member, total and count bounds. The files are written
into a fresh temporary folder next to the cache entry and renamed into place only after the digest
matched, so a cache entry is either whole and verified or absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import IO

from typedflow.util.boundary import BoundaryError, check_digest, open_nofollow, safe_relpath

from .bundle import MAX_FILE, MAX_FILES, MAX_TOTAL, manifest_digest

MAX_ZIP = MAX_TOTAL + 16 * 1024 * 1024  # a deflated bundle is smaller than its content, plus headers
_CHUNK = 1 << 16
_VERIFIED: set[tuple[str, str]] = set()  # (folder, digest) checked by this process
_LOCK = threading.Lock()


def default_cache() -> Path:
    """``$TYPEDFLOW_CODE_CACHE``, else ``$XDG_CACHE_HOME/typedflow/code`` (``~/.cache/typedflow/code``)."""
    given = os.environ.get("TYPEDFLOW_CODE_CACHE")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "typedflow" / "code"


def check_cache_location(cache: Path) -> None:
    """Task code under the Python installation would count as library code, and its code digests
    would not match the ones compiled from the project: refuse such a cache."""
    from typedflow.dsl.source import _LIBRARY_ROOTS

    real = os.path.realpath(cache)
    for root in _LIBRARY_ROOTS:
        if real == root or real.startswith(root + os.sep):
            raise BoundaryError(
                f"the code cache {cache} lies inside {root} (the Python installation or typedflow itself); task "
                "code there would be taken for library code: set TYPEDFLOW_CODE_CACHE to a folder outside it"
            )


def tree_digest(folder: Path) -> str:
    """The bundle digest of an extracted folder (regular files only; a link or anything else is an error)."""
    entries: list[tuple[str, str]] = []
    stack = [(folder, "")]
    count = 0
    while stack:
        d, rel = stack.pop()
        for e in os.scandir(d):
            path = f"{rel}/{e.name}" if rel else e.name
            mode = e.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                stack.append((Path(e.path), path))
            elif stat.S_ISREG(mode):
                count += 1
                if count > MAX_FILES:
                    raise BoundaryError(f"code bundle {folder}: more than {MAX_FILES} files")
                h = hashlib.sha256()
                with open(open_nofollow(e.path, os.O_RDONLY), "rb") as f:
                    for chunk in iter(lambda f=f: f.read(_CHUNK), b""):  # type: ignore[misc]
                        h.update(chunk)
                entries.append((path, h.hexdigest()))
            else:
                raise BoundaryError(f"code bundle {folder}: {path} is not a regular file")
    return manifest_digest(entries)


def cached(digest: str, cache: Path) -> Path | None:
    """The verified folder of ``digest`` in ``cache``, or None (a folder that does not match is removed)."""
    digest = check_digest(digest, "code bundle digest")
    folder = cache / digest.removeprefix("sha256:")
    key = (str(folder), digest)
    with _LOCK:
        if key in _VERIFIED and folder.is_dir():
            return folder
    if not folder.is_dir() or folder.is_symlink():
        return None
    try:
        ok = tree_digest(folder) == digest
    except (OSError, BoundaryError):
        ok = False
    if not ok:  # changed since it was verified: out of use, and fetched again
        _discard(folder)
        return None
    with _LOCK:
        _VERIFIED.add(key)
    return folder


def extract(source: IO[bytes] | Path, digest: str, cache: Path) -> Path:
    """Verify the zip in ``source`` against ``digest`` and extract it into ``cache/<hex>``; the folder.
    Raises :class:`BoundaryError` naming the problem; nothing is left behind on failure."""
    digest = check_digest(digest, "code bundle digest")
    check_cache_location(cache)
    found = cached(digest, cache)
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
    try:
        _unzip(source, tmp, digest)
        target = cache / digest.removeprefix("sha256:")
        try:
            os.rename(tmp, target)
        except OSError:
            if cached(digest, cache) is None:  # another process put a bad one there: replace it
                _discard(target)
                os.rename(tmp, target)
        with _LOCK:
            _VERIFIED.add((str(target), digest))
        return target
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _unzip(source: IO[bytes] | Path, dest: Path, digest: str) -> None:
    what = f"code bundle {digest}"
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BoundaryError(f"{what}: not a readable zip ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_FILES:
            raise BoundaryError(f"{what}: {len(infos)} members, more than {MAX_FILES}")
        seen: set[str] = set()
        total = 0
        entries: list[tuple[str, str]] = []
        for info in infos:
            name = safe_relpath(info.filename, f"{what}: member {info.filename[:200]!r}")
            if name != info.filename or name.casefold() in seen:
                raise BoundaryError(f"{what}: member {info.filename[:200]!r} is not a plain, unique relative path")
            seen.add(name.casefold())
            kind = stat.S_IFMT(info.external_attr >> 16)
            if info.is_dir() or kind not in (0, stat.S_IFREG):
                raise BoundaryError(f"{what}: member {name!r} is not a regular file (a link or a folder entry)")
            if info.flag_bits & 0x1:
                raise BoundaryError(f"{what}: member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise BoundaryError(f"{what}: member {name!r} uses an unsupported compression")
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            size = 0
            try:
                with (
                    zf.open(info) as src,
                    open(open_nofollow(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444), "wb") as out,
                ):
                    while True:
                        chunk = src.read(_CHUNK)
                        if not chunk:
                            break
                        size += len(chunk)
                        total += len(chunk)
                        if size > MAX_FILE or total > MAX_TOTAL:
                            raise BoundaryError(
                                f"{what}: more than {MAX_FILE if size > MAX_FILE else MAX_TOTAL:,} bytes once "
                                f"decompressed (at {name!r})"
                            )
                        h.update(chunk)
                        out.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise BoundaryError(f"{what}: member {name!r} cannot be read ({exc})") from None
            entries.append((name, h.hexdigest()))
    actual = manifest_digest(entries)
    if actual != digest:
        raise BoundaryError(f"{what}: its content has the digest {actual}; refusing to use it")


def _discard(folder: Path) -> None:
    """Take a cache entry out of use at once (a rename), then remove it."""
    aside = folder.with_name(f".discard-{folder.name}-{os.getpid()}-{threading.get_ident()}")
    try:
        os.rename(folder, aside)
    except OSError:
        return
    for d, _, _ in os.walk(aside):
        os.chmod(d, 0o700)
    shutil.rmtree(aside, ignore_errors=True)


__all__ = ["MAX_ZIP", "cached", "check_cache_location", "default_cache", "extract", "tree_digest"]
