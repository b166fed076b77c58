"""Where a task attempt runs: a worker thread, or a worker process that can die alone.

Values cross the process boundary as typed JSON lines over pipes; nothing is pickled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Final, NoReturn, Protocol

from typedflow import ir
from typedflow.dsl.secret import literal_values
from typedflow.ir.codec import converter
from typedflow.runtime.capture import Sink
from typedflow.runtime.context import RunContext
from typedflow.runtime.execute import CacheProbe, Outcome, TaskError, execute
from typedflow.runtime.store import LocalStore

# How long a new worker process may take to start before its task's timeout starts (importing heavy modules).
START_SECONDS: Final = 60.0


class Runner(Protocol):
    store: LocalStore

    def run(
        self,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        use_cache: bool,
        context: RunContext | None = None,
        known: CacheProbe | None = None,
        log: Sink | None = None,
    ) -> Outcome: ...

    def kill_running(self) -> int:
        """Kill what runs tasks now, if it can be killed (a stopping run; called from a signal handler);
        how many tasks were killed."""
        ...

    def close(self) -> None: ...


class ThreadRunner:
    """Runs the task in the calling worker thread. With a timeout, the attempt runs in a helper
    thread that is abandoned (it cannot be killed) when the time is up."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def run(
        self,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        use_cache: bool,
        context: RunContext | None = None,
        known: CacheProbe | None = None,
        log: Sink | None = None,
    ) -> Outcome:
        if template.timeout is None:
            return execute(
                template, inputs, store=self.store, use_cache=use_cache, context=context, known=known, log=log
            )
        box: dict[str, Any] = {}
        guarded = _UntilAbandoned(self.store)

        def target() -> None:
            try:
                box["ok"] = execute(
                    template, inputs, store=guarded, use_cache=use_cache, context=context, known=known, log=log
                )
            except BaseException as exc:
                box["err"] = exc

        t = threading.Thread(target=target, daemon=True, name=f"typedflow-{template.name}")
        t.start()
        t.join(template.timeout)
        if t.is_alive():
            guarded.abandoned = True  # a result that comes after the timeout must not be cached
            raise TaskError(
                "TimeoutError",
                f"task {template.name} exceeded its timeout of {template.timeout:g}s "
                "(abandoned: thread isolation cannot kill it)",
            )
        if "err" in box:
            raise box["err"]
        result: Outcome = box["ok"]
        return result

    def kill_running(self) -> int:
        return 0  # a thread cannot be killed: a stopping run gives it a grace period instead

    def close(self) -> None:
        pass


class _UntilAbandoned:
    """The store as an attempt that may be abandoned sees it: once abandoned, its late result is not
    written as a cache entry (stored files are content-addressed, so those stay harmless)."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.abandoned = False

    def put_file(self, path: Path) -> tuple[str, str]:
        return self.store.put_file(path)

    def put_dir(self, path: Path) -> tuple[str, str]:
        return self.store.put_dir(path)

    def locate(self, uri: str, sha256: Any, is_dir: bool) -> None:
        self.store.locate(uri, sha256, is_dir)

    def fetch(self, uri: str, sha256: str, is_dir: bool) -> Path:
        return self.store.fetch(uri, sha256, is_dir)

    def check_after(self, path: Path, sha256: str, is_dir: bool) -> None:
        self.store.check_after(path, sha256, is_dir)

    def digest_key(self) -> bytes:
        return self.store.digest_key()

    def get_json(self, key: str) -> Any | None:
        return self.store.get_json(key)

    def put_json(self, key: str, data: Any) -> None:
        if not self.abandoned:
            self.store.put_json(key, data)


class _Worker:
    """A long-lived worker process speaking JSON lines on stdin/stdout."""

    def __init__(self, store_root: str, modules: dict[str, str]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([*sys.path[1:], env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "typedflow.backends.local.procworker",
                store_root,
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
            # Its own process group: a timeout kills what the task started too, or a child still
            # holding the worker's stdout would keep the reply pipe open.
            start_new_session=True,
        )
        # The modules' files go first on stdin: as an argument they could pass the kernel's 128 KiB limit.
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(modules) + "\n")
        self.proc.stdin.flush()
        self.templates: set[str] = set()  # template keys this worker has been sent

    def call(self, request: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if timeout is not None:
            request = {**request, "ack": True}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        if timeout is None:
            line = self.proc.stdout.readline()
        else:
            # The timeout is the task's: a new worker's start-up (the interpreter, the task's modules) does not
            # count, as a container's start does not on Step Functions. The worker says when the task starts.
            line = self._read(timeout + START_SECONDS)
            if not line:
                self._died(f"the worker process did not start the task within {START_SECONDS:g}s", timeout)
            if json.loads(line).get("started") is True:
                line = self._read(timeout)
                if not line:
                    self._died(f"task exceeded its timeout of {timeout:g}s (worker killed)", timeout)
        if not line:
            self._died("", None)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _read(self, seconds: float) -> str:
        """A line from the worker; it is killed if none comes within ``seconds``."""
        assert self.proc.stdout is not None
        timer = threading.Timer(seconds, self._kill_group)
        timer.start()
        try:
            return self.proc.stdout.readline()
        finally:
            timer.cancel()

    def _died(self, timed_out: str, timeout: float | None) -> NoReturn:
        code = self.proc.wait()
        if timeout is not None and code == -9:
            raise TaskError("TimeoutError", timed_out)
        raise TaskError("WorkerCrashed", f"the worker process died (exit code {code}) while running the task")

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.close()
        except OSError:
            pass  # the worker already died; its end of the pipe is gone
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class ProcessRunner:
    """Runs each attempt in a worker process from a pool; a crash or timeout fails only that task."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self.lock = threading.Lock()
        self.modules = {
            name: m.__file__
            for name, m in list(sys.modules.items())
            if getattr(m, "__file__", None)
            and not name.startswith(("typedflow", "_"))
            and "site-packages" not in (m.__file__ or "")
            and "/lib/python" not in (m.__file__ or "")
        }
        # A script's tasks (module __main__): the worker loads the file as __mp_main__. Not a package's
        # __main__ (``python -m typedflow``, ``-m pytest``): loading that would run its command again.
        main = sys.modules.get("__main__")
        script = getattr(main, "__file__", None)
        spec = getattr(main, "__spec__", None)
        if script and (spec is None or not spec.name.endswith("__main__")):
            self.modules["__main__"] = script

    def _take(self) -> _Worker:
        with self.lock:
            while self.idle:
                w = self.idle.pop()
                if w.alive():
                    return w
                w.close()
        return _Worker(str(self.store.root), {k: v for k, v in self.modules.items() if v})

    def run(
        self,
        template: ir.TaskTemplate,
        inputs: dict[str, Any],
        use_cache: bool,
        context: RunContext | None = None,
        known: CacheProbe | None = None,
        log: Sink | None = None,
    ) -> Outcome:
        worker = self._take()
        self.busy.add(worker)
        # A worker keeps the templates it was sent (decoding one costs more than running a quick task).
        # (its cache policy too: a call's own options give the same task another template)
        tkey = f"{template.name}@{template.code_digest}@{template.cache.enabled}:{template.cache.version}"
        request: dict[str, Any] = {
            "template_key": tkey,
            "inputs": inputs,
            "use_cache": use_cache,
            "context": converter.unstructure(context),
        }
        if tkey not in worker.templates:
            request["template"] = converter.unstructure(template)
            worker.templates.add(tkey)
        if known is not None and known.hit is None:
            request["known"] = {"digests": known.digests, "key": known.key}
        if log is not None:
            request["log"] = True
        given = literal_values(
            v["secret"] for p in template.inputs if isinstance(v := inputs.get(p.name), dict) and "secret" in v
        )
        if given:  # secrets given by value travel over the pipe (memory), never through a file
            request["secrets"] = given
        try:
            reply = worker.call(request, template.timeout)
        except BaseException:  # crashed, timed out or an unreadable reply: the worker is not reused
            self.busy.discard(worker)
            worker.close()
            raise
        self.busy.discard(worker)
        with self.lock:
            self.idle.append(worker)
        if log is not None and isinstance(reply.get("log"), str):
            log(reply["log"])
        if "error" in reply:
            e = reply["error"]
            classes = e.get("classes")
            kinds = tuple(c for c in classes if isinstance(c, str)) if isinstance(classes, list) else ()
            raise TaskError(e["type"], e["message"], e.get("traceback", ""), classes=kinds)
        return converter.structure(reply["outcome"], Outcome)

    def kill_running(self) -> int:
        # No lock: this runs in a signal handler, possibly while this thread holds it. Copying a set
        # is one step under the GIL.
        busy = tuple(self.busy)
        for w in busy:
            w._kill_group()
        return len(busy)

    def close(self) -> None:
        # A worker still busy now belongs to a task that was abandoned (a stopped run): it must not
        # outlive the run, running the task on its own. (A worker started as the stop came is killed here.)
        self.kill_running()
        with self.lock:
            for w in self.idle:
                w.close()
            self.idle.clear()
