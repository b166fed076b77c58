"""What ``typedflow run`` shows on stderr: a live view on a terminal, plain lines or JSON lines.

The live view is one status line, redrawn in place: the elapsed time, node counts, a bar per running
``map_over``, and the tasks running now with how long each has run (the longest first) and their
attempt when a retry is under way. Retries, failures and a stop scroll above it as lines of their
own. Every format ends with the run's status, its slowest tasks and where its outputs went.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

_SYMBOL = {"succeeded": "done", "cached": "cached", "failed": "FAILED", "skipped": "skipped", "running": "running"}
_FINAL = frozenset({"succeeded", "cached", "failed", "skipped"})
SLOWEST = 3  # how many of the slowest tasks the summary names
GROUP = 3  # more running instances of one task than this are shown as one entry
TICK = 0.5  # seconds between redraws of the live view while nothing happens


class _Quiet:
    """A stream that goes quiet once its reader is gone (``2>&1 | head``): progress is a view of the
    run, and a closed pipe must not stop the run or leave its records unfinished."""

    def __init__(self, stream: TextIO) -> None:
        self.stream: TextIO | None = stream

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def columns(self) -> int:
        """The terminal's width (of this stream's terminal: stdout may be a pipe)."""
        try:
            n = os.get_terminal_size(self.stream.fileno()).columns if self.stream is not None else 0
        except (OSError, ValueError, AttributeError):
            n = 0
        return n or shutil.get_terminal_size().columns  # 0: a terminal that has not said (COLUMNS, or 80)

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


class _Running:
    __slots__ = ("attempt", "attempts", "since", "task")

    def __init__(self, task: str, since: float) -> None:
        self.task = task
        self.since = since
        self.attempt = 1
        self.attempts = 1


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s" if s < 10 else f"{s:.0f}s"
    return f"{int(s // 60)}m{int(s % 60):02d}s"


class Progress:
    """The listener of one run's node reports (:meth:`listener`) and its last words (:meth:`finish`,
    :meth:`interrupted`). ``fmt``: auto (live on a terminal, else plain), live, plain or json."""

    def __init__(self, fmt: str, raw_stream: TextIO) -> None:
        self.stream = _Quiet(raw_stream)
        self.fmt = ("live" if self.stream.isatty() else "plain") if fmt == "auto" else fmt
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.maps: dict[str, list[int]] = {}
        self.states: dict[str, str] = {}
        self.running: dict[str, _Running] = {}
        self.stopping = ""
        self._ticker: threading.Thread | None = None
        self._done = threading.Event()
        self.printed = _Printed(self.print_line, raw_stream)

    # ------------------------------------------------------------------ events
    def listener(self, rep: Any) -> None:
        with self.lock:
            self._event(rep)
            self.stream.flush()

    def _event(self, rep: Any) -> None:
        status = rep.status
        if status == "run-started":
            self._started(rep)
            return
        if status == "map":
            self.maps[rep.key] = [0, rep.items]
        elif status in ("item", "item-failed"):
            m = self.maps.get(rep.key.rsplit("[", 1)[0])
            if m is not None:
                m[0] += 1
        elif status == "retry":
            r = self.running.get(rep.key)
            if r is not None:
                r.attempt, r.attempts = rep.attempts + 1, rep.items
        elif status == "stopping":
            self.stopping = rep.reason
        else:
            self.states[rep.key] = status
            if status == "running":
                self.running[rep.key] = _Running(rep.task or rep.node, time.monotonic())
            elif status in _FINAL:
                self.running.pop(rep.key, None)
        if self.fmt == "json":
            self._json(rep)
        elif self.fmt == "plain":
            self._plain(rep)
        else:
            self._live(rep)

    def _started(self, rep: Any) -> None:
        resumed = rep.reason == "resumed"
        if self.fmt == "json":
            self.stream.write(
                json.dumps({"event": "start", "run_id": rep.key, "workflow": rep.node, "resumed": resumed}) + "\n"
            )
        else:
            self.stream.write(f"run {rep.key} {'resumed' if resumed else 'started'} ({rep.node})\n")
        self.stream.flush()
        if self.fmt == "live" and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="typedflow-progress", daemon=True)
            self._ticker.start()

    def _json(self, rep: Any) -> None:
        status = rep.status
        if status == "map":
            event: dict[str, Any] = {"event": "map", "key": rep.key, "items": rep.items}
        elif status in ("item", "item-failed"):
            return
        elif status == "retry":
            event = {
                "event": "retry",
                "key": rep.key,
                "task": rep.task,
                "attempt": rep.attempts,
                "attempts": rep.items,
                "error": rep.error_type,
                "message": rep.message,
            }
        elif status == "stopping":
            event = {
                "event": "stopping",
                "signal": rep.reason,
                "waiting": rep.items,
                "killed": rep.attempts,
                "grace": round(rep.duration, 3),
            }
        else:
            event = {
                "event": "node",
                "key": rep.key,
                "task": rep.task,
                "status": status,
                "attempts": rep.attempts,
                "duration": round(rep.duration, 6),
                "error": rep.error_type or None,
            }
        self.stream.write(json.dumps(event) + "\n")

    def _plain(self, rep: Any) -> None:
        status = rep.status
        if status == "map":
            self.stream.write(f"  {'map':>8}  {rep.key} ({rep.items} items)\n")
        elif status in ("retry", "stopping"):
            self.stream.write(self._notice(rep))
        elif status not in ("running", "item", "item-failed"):
            extra = f" ({rep.duration:.3f}s)" if rep.duration else ""
            if rep.attempts > 1:
                extra += f" after {rep.attempts} attempts"
            if status == "failed":
                extra += f": {rep.error_type}: {rep.message}"
            if rep.reason:
                extra += f" [{rep.reason}]"
            self.stream.write(f"  {_SYMBOL.get(status, status):>8}  {rep.key}{extra}\n")

    def _notice(self, rep: Any) -> str:
        """A line of its own for a retry, a failure or a stop."""
        if rep.status == "retry":
            return (
                f"  {'retry':>8}  {rep.key}: attempt {rep.attempts} of {rep.items} failed "
                f"({rep.error_type}: {_first_line(rep.message)}); attempt {rep.attempts + 1} follows\n"
            )
        if rep.status == "failed":
            extra = f" after {rep.attempts} attempts" if rep.attempts > 1 else ""
            return f"  {'FAILED':>8}  {rep.key}{extra}: {rep.error_type}: {_first_line(rep.message)}\n"
        what = []
        if rep.attempts:
            what.append(f"killed {rep.attempts} worker process(es)")
        if rep.items:
            what.append(
                f"waiting up to {rep.duration:.0f}s for {rep.items} running task(s)"
                + (" (Ctrl-C again to stop waiting)" if rep.reason == "SIGINT" else "")
            )
        return f"  {'stopping':>8}  {rep.reason}: no new task starts" + "".join(f"; {w}" for w in what) + "\n"

    def _live(self, rep: Any) -> None:
        if rep.status in ("retry", "failed", "stopping"):
            self.stream.write("\r\x1b[K" + self._notice(rep))
        self._draw()

    def _draw(self) -> None:
        tally = Counter(self.states.values())
        parts = [f"{_SYMBOL.get(k, k)} {tally[k]}" for k in ("succeeded", "cached", "failed", "skipped") if tally[k]]
        now = time.monotonic()
        if self.running:
            parts.insert(0, f"running {len(self.running)}")
        line = f"{_seconds(now - self.t0):>6}  {' | '.join(parts)}"
        if self.stopping:
            line += f"  [stopping: {self.stopping}]"
        bars = "  ".join(f"{k} {_bar(*v)}" for k, v in self.maps.items() if v[0] < v[1])
        if bars:
            line += "  " + bars
        names = self._running_names(now)
        if names:
            line += "  > " + names
        self.stream.write("\r\x1b[K" + line[: max(20, self.stream.columns() - 1)])

    def _running_names(self, now: float) -> str:
        """The tasks running now, the longest-running first; many instances of one task (map items)
        as one entry."""
        groups: dict[str, list[tuple[str, _Running]]] = {}
        for key, r in self.running.items():
            groups.setdefault(r.task, []).append((key, r))
        shown: list[tuple[float, str]] = []
        for task, items in groups.items():
            if len(items) > GROUP:
                since = min(r.since for _, r in items)
                retries = sum(1 for _, r in items if r.attempt > 1)
                text = f"{task} x{len(items)} {_seconds(now - since)}" + (f" ({retries} retrying)" if retries else "")
                shown.append((since, text))
                continue
            for key, r in items:
                retry = f" (attempt {r.attempt}/{r.attempts})" if r.attempt > 1 else ""
                shown.append((r.since, f"{key} {_seconds(now - r.since)}{retry}"))
        return ", ".join(text for _, text in sorted(shown, key=lambda st: st[0]))

    def print_line(self, line: str) -> None:
        """A line a task printed, shown with the progress: above the live view's status line, or as a
        JSON event."""
        with self.lock:
            if self.fmt == "json":
                self.stream.write(json.dumps({"event": "print", "text": line}) + "\n")
            elif self.fmt == "live":
                self.stream.write("\r\x1b[K" + line + "\n")
                self._draw()
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._done.wait(TICK):
            with self.lock:
                if self._done.is_set():
                    return
                self._draw()
                self.stream.flush()

    # ------------------------------------------------------------------ the end
    def _stop_ticking(self) -> None:
        self.printed.flush_all()
        with self.lock:
            self._done.set()
        if self.fmt == "live":
            self.stream.write("\r\x1b[K" if self._ticker is not None else "")
            self._draw()
            self.stream.write("\n")

    def finish(self, result: Any, doc: Any = None) -> None:
        """The run's status, its slowest tasks and where its outputs are (``doc``: its IR, which
        types the outputs)."""
        self._stop_ticking()
        slowest = sorted(
            (n for n in result.nodes if n.status == "succeeded" and n.task and n.duration >= 0.01),
            key=lambda n: -n.duration,
        )[:SLOWEST]
        places = output_places(result.outputs, doc) if result.ok and doc is not None else {}
        if self.fmt == "json":
            self.stream.write(
                json.dumps(
                    {
                        "event": "run",
                        "run_id": result.run_id,
                        "status": result.status,
                        "duration": round(result.duration, 6),
                        "cache_hits": result.cache_hits,
                        "slowest": [{"key": n.key, "duration": round(n.duration, 6)} for n in slowest],
                        "places": places,
                    }
                )
                + "\n"
            )
            self.stream.flush()
            return
        n = Counter(r.status for r in result.nodes)
        summary = ", ".join(f"{v} {k}" for k, v in sorted(n.items()))
        self.stream.write(f"run {result.run_id}: {result.status.upper()} in {result.duration:.2f}s ({summary})\n")
        if slowest:
            self.stream.write("slowest: " + ", ".join(f"{s.key} {s.duration:.2f}s" for s in slowest) + "\n")
        for name, place in places.items():
            self.stream.write(f"output {name}: {place}\n")
        for f in result.failures:
            self.stream.write(
                f"\nnode {f.key} (task {f.task}) failed after {f.attempts} attempt(s): "
                f"{f.error_type}: {f.message}\n{f.traceback}"
            )
        self.stream.flush()

    def interrupted(self, exc: Any, resume: str) -> None:
        """A run stopped by a signal: what was abandoned, and the command that resumes it."""
        self._stop_ticking()
        if self.fmt == "json":
            event = {
                "event": "interrupted",
                "run_id": exc.run_id,
                "signal": exc.signal,
                "abandoned": list(exc.abandoned),
                "resume": resume,
            }
            self.stream.write(json.dumps(event) + "\n")
        else:
            done = sum(1 for s in self.states.values() if s in ("succeeded", "cached"))
            lost = f"; abandoned (they run again when resumed): {', '.join(exc.abandoned)}" if exc.abandoned else ""
            self.stream.write(
                f"run {exc.run_id}: STOPPED by {exc.signal} after {_seconds(time.monotonic() - self.t0)} "
                f"({done} task(s) finished and kept{lost})\nresume it with:\n  {resume}\n"
            )
        self.stream.flush()


class _Printed:
    """``sys.stdout`` while a run shows progress: what Python code prints goes, a line at a time, to
    the progress view; each thread's unfinished line waits for its end."""

    def __init__(self, emit: Callable[[str], None], underlying: TextIO) -> None:
        self.encoding = "utf-8"
        self.errors = "strict"
        self._emit = emit
        self._underlying = underlying
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass  # a line is shown when it ends

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 2  # code that writes to the descriptor itself writes to stderr, as before

    def __getattr__(self, name: str) -> Any:
        # The rest of a text stream's interface (buffer, reconfigure, ...) is stderr's, as before.
        return getattr(self._underlying, name)

    def write(self, text: str) -> int:
        me = threading.get_ident()
        with self._lock:
            *lines, rest = (self._partial.pop(me, "") + text).split("\n")
            if rest:
                self._partial[me] = rest
        for line in lines:
            self._emit(line)
        return len(text)

    def flush_all(self) -> None:
        """Show the lines that were never ended."""
        with self._lock:
            rest, self._partial = list(self._partial.values()), {}
        for line in rest:
            self._emit(line)


def output_places(outputs: dict[str, Any], doc: Any) -> dict[str, str]:
    """Where a run's outputs are, by output name: the local path of each stored file or directory
    (several for a list of them), and a ``str`` output that names an existing absolute path."""
    from typedflow.dsl.srcpaths import display_path
    from typedflow.runtime.execute import has_files, map_files

    places: dict[str, str] = {}
    for p in doc.workflow.outputs:
        value = outputs.get(p.name)
        if value is None:
            continue
        if has_files(p.type):
            found: list[str] = []

            def visit(v: dict[str, Any], t: Any, found: list[str] = found) -> dict[str, Any]:
                uri = str(v.get("uri", ""))
                found.append(display_path(uri) if "://" not in uri else uri)
                return v

            map_files(value, p.type, visit)
            if found:
                places[p.name] = ", ".join(found)
        elif isinstance(value, str) and os.path.isabs(value) and os.path.exists(value):
            places[p.name] = display_path(value)
    return places


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def make_progress(fmt: str, stream: TextIO) -> Progress:
    return Progress(fmt, stream)
