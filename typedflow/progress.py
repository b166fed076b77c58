"""What ``typedflow run`` shows on stderr: a live view on a terminal, plain lines or JSON lines."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

_SYMBOL = {"succeeded": "done", "cached": "cached", "failed": "FAILED", "skipped": "skipped", "running": "running"}


class _Quiet:
    """A stream that goes quiet once its reader is gone (``2>&1 | head``): progress is a view of the
    run, and a closed pipe must not stop the run or leave its records unfinished."""

    def __init__(self, stream: TextIO) -> None:
        self.stream: TextIO | None = stream

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def write(self, text: str) -> None:
        self._do(lambda s: s.write(text))

    def flush(self) -> None:
        self._do(lambda s: s.flush())

    def _do(self, op: Callable[[TextIO], object]) -> None:
        if self.stream is None:
            return
        try:
            op(self.stream)
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            self.stream = None


def make_listener(fmt: str, raw_stream: TextIO) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """(listener for node reports, finisher printing the summary)."""
    stream = _Quiet(raw_stream)
    if fmt == "auto":
        fmt = "live" if stream.isatty() else "plain"
    lock = threading.Lock()
    maps: dict[str, list[int]] = {}
    t0 = time.perf_counter()

    states: dict[str, str] = {}

    def bar(done: int, total: int, width: int = 20) -> str:
        filled = width * done // total if total else width
        return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"

    def listener(rep: Any) -> None:
        with lock:
            if rep.status == "run-started":
                resumed = rep.reason == "resumed"
                if fmt == "json":
                    stream.write(
                        json.dumps({"event": "start", "run_id": rep.key, "workflow": rep.node, "resumed": resumed})
                        + "\n"
                    )
                else:
                    stream.write(f"run {rep.key} {'resumed' if resumed else 'started'} ({rep.node})\n")
                stream.flush()
                return
            if rep.status == "map":
                maps[rep.key] = [0, rep.items]
            elif rep.status in ("item", "item-failed"):
                m = maps.get(rep.key.rsplit("[", 1)[0])
                if m is not None:
                    m[0] += 1
            else:
                states[rep.key] = rep.status
            if fmt == "json":
                if rep.status == "map":
                    stream.write(json.dumps({"event": "map", "key": rep.key, "items": rep.items}) + "\n")
                elif rep.status not in ("item", "item-failed"):
                    stream.write(
                        json.dumps(
                            {
                                "event": "node",
                                "key": rep.key,
                                "task": rep.task,
                                "status": rep.status,
                                "attempts": rep.attempts,
                                "duration": round(rep.duration, 6),
                                "error": rep.error_type or None,
                            }
                        )
                        + "\n"
                    )
            elif fmt == "plain":
                if rep.status == "map":
                    stream.write(f"  {'map':>8}  {rep.key} ({rep.items} items)\n")
                elif rep.status not in ("running", "item", "item-failed"):
                    extra = f" ({rep.duration:.3f}s)" if rep.duration else ""
                    if rep.attempts > 1:
                        extra += f" after {rep.attempts} attempts"
                    if rep.status == "failed":
                        extra += f": {rep.error_type}: {rep.message}"
                    if rep.reason:
                        extra += f" [{rep.reason}]"
                    stream.write(f"  {_SYMBOL.get(rep.status, rep.status):>8}  {rep.key}{extra}\n")
            else:  # live: one redrawn line of node states and a bar per running map
                tally = Counter(states.values())
                parts = [
                    f"{_SYMBOL.get(k, k)} {tally[k]}"
                    for k in ("running", "succeeded", "cached", "failed", "skipped")
                    if tally[k]
                ]
                bars = "  ".join(f"{k} {bar(*v)}" for k, v in maps.items() if v[0] < v[1])
                line = f"{time.perf_counter() - t0:6.1f}s  {' | '.join(parts)}  {bars}"
                stream.write("\r\x1b[K" + line[: max(20, shutil.get_terminal_size().columns - 1)])
            stream.flush()

    def finish(result: Any) -> None:
        if fmt == "live":
            stream.write("\n")
        if fmt == "json":
            stream.write(
                json.dumps(
                    {
                        "event": "run",
                        "run_id": result.run_id,
                        "status": result.status,
                        "duration": round(result.duration, 6),
                        "cache_hits": result.cache_hits,
                    }
                )
                + "\n"
            )
            return
        n = Counter(r.status for r in result.nodes)
        summary = ", ".join(f"{v} {k}" for k, v in sorted(n.items()))
        stream.write(f"run {result.run_id}: {result.status.upper()} in {result.duration:.2f}s ({summary})\n")
        for f in result.failures:
            stream.write(
                f"\nnode {f.key} (task {f.task}) failed after {f.attempts} attempt(s): "
                f"{f.error_type}: {f.message}\n{f.traceback}"
            )
        stream.flush()

    return listener, finish
