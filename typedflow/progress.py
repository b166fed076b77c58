"""What ``typedflow run`` shows on stderr: a live view on a terminal, plain lines or JSON lines."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

_SYMBOL = {"succeeded": "done", "cached": "cached", "failed": "FAILED", "skipped": "skipped", "running": "running"}


def make_listener(fmt: str, stream: TextIO) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """(listener for node reports, finisher printing the summary)."""
    if fmt == "auto":
        fmt = "live" if stream.isatty() else "plain"
    lock = threading.Lock()
    counts: Counter[str] = Counter()
    maps: dict[str, list[int]] = {}
    t0 = time.perf_counter()

    def listener(rep: Any) -> None:
        with lock:
            if rep.status != "running":
                counts[rep.status] += 1
            if fmt == "json":
                stream.write(json.dumps({"event": "node", "key": rep.key, "task": rep.task, "status": rep.status,
                                         "attempts": rep.attempts, "duration": round(rep.duration, 6),
                                         "error": rep.error_type or None}) + "\n")
            elif fmt == "plain":
                if rep.status != "running":
                    extra = f" ({rep.duration:.3f}s)" if rep.duration else ""
                    if rep.attempts > 1:
                        extra += f" after {rep.attempts} attempts"
                    if rep.status == "failed":
                        extra += f": {rep.error_type}: {rep.message}"
                    if rep.reason:
                        extra += f" [{rep.reason}]"
                    stream.write(f"  {_SYMBOL.get(rep.status, rep.status):>8}  {rep.key}{extra}\n")
            else:
                if "[" in rep.key:
                    m = rep.key.split("[", 1)[0]
                    bar = maps.setdefault(m, [0])
                    if rep.status != "running":
                        bar[0] += 1
                parts = [f"{k} {counts[k]}" for k in ("succeeded", "cached", "failed", "skipped") if counts[k]]
                maps_txt = " ".join(f"{m}:{v[0]}" for m, v in maps.items())
                stream.write(f"\r\x1b[K{time.perf_counter() - t0:6.1f}s  {' | '.join(parts)}  {maps_txt}"[:200])
            stream.flush()

    def finish(result: Any) -> None:
        if fmt == "live":
            stream.write("\n")
        if fmt == "json":
            stream.write(json.dumps({"event": "run", "run_id": result.run_id, "status": result.status,
                                     "duration": round(result.duration, 6), "cache_hits": result.cache_hits}) + "\n")
            return
        n = Counter(r.status for r in result.nodes)
        summary = ", ".join(f"{v} {k}" for k, v in sorted(n.items()))
        stream.write(f"run {result.run_id}: {result.status.upper()} in {result.duration:.2f}s ({summary})\n")
        for f in result.failures:
            stream.write(f"\nnode {f.key} (task {f.task}) failed after {f.attempts} attempt(s): "
                         f"{f.error_type}: {f.message}\n{f.traceback}")
        stream.flush()

    return listener, finish
