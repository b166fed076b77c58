"""What a local run leaves for ``typedflow runs`` next to its journal: each task attempt's output
(``logs/<node>/<attempt>.log``), for a failed run every failed node's error (``failures.json``), and
for a run stopped by a signal when and how it stopped (``stopped.json``)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typedflow.ir.canonical import canonical_json
from typedflow.runtime.atomic import write_bytes
from typedflow.runtime.capture import LIMIT, node_key, node_segment
from typedflow.util.boundary import BoundaryError, parse_json, read_regular
from typedflow.util.timestamps import utcnow

LOGS = "logs"
FAILURES = "failures.json"
CANCELLED = "cancelled"
STOPPED = "stopped.json"
_SIGNAL = re.compile(r"SIG[A-Z0-9]{1,16}|signal \d{1,4}")  # what stopping.signal_name gives
MAX_LOG_BYTES = 4 * LIMIT + 65_536  # an attempt keeps at most LIMIT characters (UTF-8: 4 bytes each) and a note


def write_log(run_dir: Path, key: str, attempt: int, text: str) -> None:
    """One attempt's output (what its task wrote to stdout/stderr, secrets blanked out)."""
    logs = run_dir / LOGS
    folder = logs / node_segment(key)
    for made in (logs, folder):  # never written through a link planted there: it leads out of the run
        if made.is_symlink():
            raise BoundaryError(f"{made} is a symbolic link")
        made.mkdir(exist_ok=True, mode=0o700)  # like the run's own files, its owner's only
    write_bytes(folder / f"{attempt}.log", text.encode("utf-8"), durable=False, mode=0o600)


def read_logs(run_dir: Path, key: str | None = None) -> list[tuple[str, int, str]]:
    """(node key, attempt, text) of the run's kept output, by node then attempt."""
    base = run_dir / LOGS
    out: list[tuple[str, int, str]] = []
    if base.is_symlink():  # a run makes its own folders: a link leads out of the run
        logging.getLogger(__name__).warning("ignoring %s: a symbolic link", base)
        return out
    if key is not None:
        try:
            folders = [base / node_segment(key)]
        except UnicodeEncodeError:  # a --node of bytes that are not UTF-8: no node has that key
            return out
    else:
        folders = sorted(base.iterdir()) if base.is_dir() else []
    for folder in folders:
        try:
            if not folder.is_dir():
                continue
            if folder.is_symlink():
                logging.getLogger(__name__).warning("ignoring %s: a symbolic link", folder)
                continue
        except OSError:  # a --node no folder can be named after (too long for the OS): nothing kept
            continue
        for f in folder.glob("*.log"):
            if f.stem.isdigit():
                try:  # never through a link, a FIFO or a file grown past what a run keeps
                    text = read_regular(f, "kept output", MAX_LOG_BYTES).decode("utf-8", errors="replace")
                except (OSError, BoundaryError) as exc:
                    text = f"(not shown: {exc})\n"
                out.append((node_key(folder.name), int(f.stem), text))
    return sorted(out, key=lambda e: (e[0], e[1]))


def write_failures(run_dir: Path, reports: list[Any]) -> None:
    """Every failed node of the run (the first is the run's failure), with message and traceback."""
    rows = [
        {
            "node": r.key,
            "error_type": r.error_type,
            "message": r.message,
            "traceback": r.traceback,
            "attempts": r.attempts,
        }
        for r in reports
    ]
    write_bytes(run_dir / FAILURES, json.dumps(rows, sort_keys=True).encode("utf-8"), durable=False, mode=0o600)


def read_failures(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / FAILURES
    try:
        rows = parse_json(read_regular(path, str(path)), str(path))
    except FileNotFoundError:
        return []
    except (OSError, BoundaryError) as exc:
        logging.getLogger(__name__).warning("ignoring %s", exc)
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def write_stopped(run_dir: Path, signal: str, abandoned: Sequence[str]) -> None:
    """When a run stopped by ``signal`` stopped, and the node instances it abandoned (running then). Not the
    run's status: its journal has no end line, so it stays resumable, and resuming it drops this file."""
    stopped = {"abandoned": sorted(abandoned), "ended": utcnow(), "signal": signal}
    write_bytes(run_dir / STOPPED, canonical_json(stopped).encode("utf-8"), durable=False, mode=0o600)


def read_stopped(run_dir: Path) -> dict[str, Any]:
    """What :func:`write_stopped` wrote: ``ended`` and ``signal`` (text) and ``abandoned`` (node keys); {}
    when there is none, and (with a warning naming it) when it is damaged."""
    path = run_dir / STOPPED
    try:
        data = parse_json(read_regular(path, str(path)), str(path))
    except FileNotFoundError:
        return {}
    except (OSError, BoundaryError) as exc:
        logging.getLogger(__name__).warning("ignoring %s", exc)
        return {}
    if not isinstance(data, dict):
        data = {}
    ended, signal, abandoned = data.get("ended"), data.get("signal"), data.get("abandoned")
    if not (
        isinstance(ended, str)
        and isinstance(signal, str)
        and _SIGNAL.fullmatch(signal) is not None
        and isinstance(abandoned, list)
        and all(isinstance(k, str) and k for k in abandoned)
    ):
        logging.getLogger(__name__).warning("ignoring %s: not what a stopped run writes", path)
        return {}
    return {"ended": ended, "signal": signal, "abandoned": abandoned}
