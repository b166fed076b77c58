"""Per-bundle task processes of a long-lived worker.

Python has one module namespace per process: two versions of a workflow whose modules have the same
names cannot both be imported into one. A worker that serves requests of several bundles therefore
runs each bundle's tasks in a process of its own (started with ``python -I``: no ``PYTHONPATH``, no
working directory on ``sys.path``), whose ``sys.path`` starts with that bundle's verified folder. A
process lives on for the next request of its bundle; the least recently used one is stopped when more
than ``max_processes`` bundles are live.

The protocol is JSON lines: the worker writes ``{"id", "request", "attempt"}`` to the process's stdin,
the process answers ``{"id", "ok", "outputs" | "error", "cause"}`` on its stdout (what tasks print goes
to stderr). Nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class BundleProcess:
    """One child process serving one bundle."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=env.get("TYPEDFLOW_WORKDIR") or None
        )
        self.pending: dict[int, Future[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.reader = threading.Thread(target=self._read, daemon=True, name="typedflow-bundle-reader")
        self.reader.start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def submit(self, n: int, message: dict[str, Any]) -> Future[dict[str, Any]]:
        fut: Future[dict[str, Any]] = Future()
        line = (json.dumps({"id": n, **message}, separators=(",", ":")) + "\n").encode("utf-8")
        with self.lock:
            self.pending[n] = fut
            self.last_used = time.monotonic()
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
            except (OSError, ValueError) as exc:
                self.pending.pop(n, None)
                fut.set_result(_lost(f"the bundle's task process cannot be reached: {exc}"))
        return fut

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
                n = int(msg.pop("id"))
            except (ValueError, KeyError, TypeError):
                log.warning("bundle process wrote a line that is not an answer: %.200r", raw)
                continue
            with self.lock:
                fut = self.pending.pop(n, None)
            if fut is not None:
                fut.set_result(msg)
        code = self.proc.wait()
        with self.lock:
            lost, self.pending = self.pending, {}
        for fut in lost.values():
            fut.set_result(_lost(f"the bundle's task process exited with code {code} while running the task"))

    def stop(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the process ends once its running tasks are answered
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _lost(cause: str) -> dict[str, Any]:
    return {"ok": False, "error": "typedflow.WorkerError", "cause": cause}


class BundlePool:
    """Bundle processes by digest. ``command(digest, folder)`` is the argv of one."""

    def __init__(
        self,
        command: Callable[[str, Path], list[str]],
        *,
        max_processes: int = 4,
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = command
        self.max_processes = max(1, max_processes)
        self.env = dict(os.environ if env is None else env)
        self.env.pop("PYTHONPATH", None)  # -I ignores it too; a child must not see it in os.environ
        self.procs: OrderedDict[str, BundleProcess] = OrderedDict()
        self.lock = threading.Lock()
        self.counter = 0

    def run(self, digest: str, folder: Path, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send ``message`` to the process of ``digest`` (started if needed) and wait for the answer."""
        with self.lock:
            self.counter += 1
            n = self.counter
            proc = self.procs.get(digest)
            if proc is None or not proc.alive():
                proc = BundleProcess(self.command(digest, folder), self.env)
                self.procs[digest] = proc
            self.procs.move_to_end(digest)
            retired = self._retire()
        for old in retired:
            threading.Thread(target=old.stop, daemon=True).start()
        return proc.submit(n, message).result(timeout)

    def _retire(self) -> list[BundleProcess]:
        out = []
        while len(self.procs) > self.max_processes:
            _, old = self.procs.popitem(last=False)
            out.append(old)
        return out

    def close(self) -> None:
        with self.lock:
            procs, self.procs = list(self.procs.values()), OrderedDict()
        for p in procs:
            p.stop()


def serve(handle: Callable[[dict[str, Any]], dict[str, Any]], concurrency: int) -> int:
    """The child's side: answer each request line on stdin with ``handle(message)`` (run on up to
    ``concurrency`` threads); stdout carries only answers, so fd 1 is pointed at stderr for the tasks."""
    from concurrent.futures import ThreadPoolExecutor

    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    write_lock = threading.Lock()

    def one(msg: dict[str, Any]) -> None:
        n = msg.get("id")
        try:
            answer = handle(msg)
        except Exception as exc:  # the runtime itself failed: answer, never leave the worker waiting
            answer = _lost(f"{type(exc).__name__}: {exc}")
        with write_lock:
            out.write(json.dumps({"id": n, **answer}, separators=(",", ":")) + "\n")

    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="typedflow-bundle-task") as pool:
        for raw in sys.stdin.buffer:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if isinstance(msg, dict) and isinstance(msg.get("id"), int):
                pool.submit(one, msg)
    return 0


__all__ = ["BundlePool", "BundleProcess", "serve"]
