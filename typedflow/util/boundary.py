"""Checks for data that crosses a trust boundary: CLI input, inputs files, cloud requests, cache
entries, directory manifests, IR documents and executor input all go through these.

Each check raises :class:`BoundaryError` with a message that names what is wrong; the caller maps
it to its own documented error (an input error, an IR error, a failed task request, a cache miss).
Nothing here trusts a size, a depth, a digest or a path it is handed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Final

from typedflow.errors import TypedflowError

SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
MAX_JSON_BYTES: Final = 64 * 1024 * 1024  # an inputs file, a request, a cache entry, an IR document
MAX_DEPTH: Final = 200  # nesting of a value (lists, objects); IR documents have their own bound
MAX_URI: Final = 4096
MAX_NAME: Final = 128
# Workflow, task and node names reach progress output, file names and ASL state names.
SAFE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
HANDLE_KEYS: Final = frozenset({"uri", "sha256", "format"})


class BoundaryError(TypedflowError, ValueError):
    """Data from outside that is malformed, oversized or points where it must not."""


def check_sha256(value: Any, what: str) -> str:
    """``value`` if it is exactly 64 lowercase hex characters."""
    if not isinstance(value, str) or SHA256_HEX.fullmatch(value) is None:
        raise BoundaryError(f"{what}: not a sha256 digest (64 lowercase hex characters): {_show(value)}")
    return value


def check_digest(value: Any, what: str) -> str:
    """``value`` if it is ``sha256:`` followed by 64 lowercase hex characters."""
    if not isinstance(value, str) or not value.startswith("sha256:"):
        raise BoundaryError(f"{what}: not a digest of the form sha256:<64 hex>: {_show(value)}")
    check_sha256(value[len("sha256:") :], what)
    return value


def check_name(value: Any, what: str) -> str:
    """A workflow, task or node name: letters, digits, ``_ . -``, at most 128 characters."""
    if not isinstance(value, str) or len(value) > MAX_NAME or SAFE_NAME.fullmatch(value) is None:
        raise BoundaryError(
            f"{what}: {_show(value)} is not a valid name (a letter or _ first, then letters, digits, _ . -; "
            f"at most {MAX_NAME} characters)"
        )
    return value


def safe_relpath(value: Any, what: str) -> str:
    """A relative POSIX path that stays inside the directory it is joined to: no absolute path, no
    ``..``, no empty or ``.`` component, no NUL or control character."""
    if not isinstance(value, str) or not value or len(value) > MAX_URI:
        raise BoundaryError(f"{what}: not a relative path: {_show(value)}")
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise BoundaryError(f"{what}: control character in path {_show(value)}")
    p = PurePosixPath(value)
    if p.is_absolute() or value.startswith("/"):
        raise BoundaryError(f"{what}: absolute path {_show(value)}")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BoundaryError(f"{what}: path {_show(value)} leaves its directory or is not normalized")
    return value


def parse_json(data: str | bytes, what: str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON: bounded size and nesting, strict UTF-8, no NaN or Infinity, integers of
    Python's default digit limit. Errors name ``what``."""
    if len(data) > max_bytes:
        raise BoundaryError(f"{what}: {len(data):,} bytes, more than the {max_bytes:,} accepted")
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BoundaryError(f"{what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise BoundaryError(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and ints over the digit limit
        raise BoundaryError(f"{what}: not JSON ({_first_line(exc)})") from None
    check_depth(value, what, max_depth)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_depth(value: Any, what: str, max_depth: int = MAX_DEPTH) -> None:
    """Lists and objects nested at most ``max_depth`` deep (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth > max_depth:
            raise BoundaryError(f"{what}: nested more than {max_depth} levels deep")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def check_handle(value: Any, what: str, *, stored: bool) -> dict[str, Any]:
    """A file or directory handle ``{"uri", "sha256", "format"}``; ``stored``: it must name stored
    content, so its sha256 is required."""
    if not isinstance(value, dict):
        raise BoundaryError(f"{what}: expected a file handle (an object with a uri), got {type(value).__name__}")
    extra = sorted(set(value) - HANDLE_KEYS)
    if extra:
        raise BoundaryError(f"{what}: unexpected key {extra[0]!r} in a file handle")
    uri = value.get("uri")
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI or "\0" in uri:
        raise BoundaryError(f"{what}: a file handle's uri must be a non-empty string, got {_show(uri)}")
    sha = value.get("sha256")
    if sha is not None or stored:
        check_sha256(sha, f"{what}.sha256")
    fmt = value.get("format")
    if fmt is not None and (not isinstance(fmt, str) or len(fmt) > 512):
        raise BoundaryError(f"{what}: a file handle's format must be a string, got {_show(fmt)}")
    return value


def regular_file(path: Path, what: str) -> os.stat_result:
    """The stat of ``path`` if it is a regular file (not a FIFO, a device, a socket): reading one of
    those could block forever or never end."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BoundaryError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BoundaryError(f"{what}: {path} is not a regular file")
    return st


def open_nofollow(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (a planted link must not redirect a write)."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def read_regular(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``, read without following a
    symbolic link and without blocking on a FIFO. A missing file is :class:`FileNotFoundError`; a link, a
    folder, a FIFO, an oversized or unreadable file a :class:`BoundaryError` naming ``what``."""
    try:
        fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        problem = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be read: {exc.strerror or exc}"
        raise BoundaryError(f"{what}: {path} {problem}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a folder with its own error
        os.close(fd)
        raise BoundaryError(f"{what}: {path} is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BoundaryError(f"{what}: {path} holds more than the {max_bytes:,} bytes accepted")
    return data


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "SHA256_HEX",
    "BoundaryError",
    "check_depth",
    "check_digest",
    "check_handle",
    "check_name",
    "check_sha256",
    "open_nofollow",
    "parse_json",
    "read_regular",
    "regular_file",
    "safe_relpath",
]
