"""A wheel of the running typedflow, made from its own files, for containers to install.

typedflow is not fetched from a package index: the deployed version is the one that compiled the
workflow. The wheel is deterministic (sorted members, fixed times), so the same installation gives the
same bytes and the same sha256, which is what the bootstrap command checks before installing it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from functools import cache
from importlib import metadata
from pathlib import Path

from typedflow._version import __version__

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SUFFIXES = (".py", ".json", ".typed")


def _package_files() -> list[tuple[str, Path]]:
    """(name in the wheel, file) for typedflow and typedflow.backends, wherever they are loaded from."""
    import importlib

    import typedflow

    backends = importlib.import_module("typedflow.backends")
    out: dict[str, Path] = {}
    for top, prefix in (
        (Path(typedflow.__file__).parent, "typedflow"),
        (Path(backends.__file__ or "").parent, "typedflow/backends"),
    ):
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            rel = Path(folder).relative_to(top).as_posix()
            for f in files:
                if f.endswith(_SUFFIXES) or f == "py.typed":
                    name = f"{prefix}/{rel}/{f}" if rel != "." else f"{prefix}/{f}"
                    out.setdefault(name, Path(folder) / f)
    return sorted(out.items())


def _metadata() -> tuple[str, str]:
    """METADATA and entry_points.txt of the installed distribution."""
    dist = metadata.distribution("typedflow")
    # an installation has METADATA; a checkout's egg-info (found first from its folder) has PKG-INFO
    meta = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not meta or "\nRequires-Dist: attrs" not in meta:
        raise RuntimeError(f"cannot read typedflow's package metadata (with its requirements) from {dist}")
    entry_points = dist.read_text("entry_points.txt") or ""
    return meta, entry_points


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


@cache
def wheel() -> tuple[str, bytes, str]:
    """(file name, bytes, sha256 hex) of a wheel of this typedflow."""
    dist_info = f"typedflow-{__version__}.dist-info"
    members: list[tuple[str, bytes]] = [(name, path.read_bytes()) for name, path in _package_files()]
    meta, entry_points = _metadata()
    members.append((f"{dist_info}/METADATA", meta.encode("utf-8")))
    if entry_points:
        members.append((f"{dist_info}/entry_points.txt", entry_points.encode("utf-8")))
    members.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: typedflow\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
    )
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members)
    record += f"{dist_info}/RECORD,,\n"
    members.append((f"{dist_info}/RECORD", record.encode("utf-8")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    data = buf.getvalue()
    return f"typedflow-{__version__}-py3-none-any.whl", data, hashlib.sha256(data).hexdigest()


__all__ = ["wheel"]
