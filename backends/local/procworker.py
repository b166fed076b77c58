"""Worker process for process isolation: typed-JSON requests in, typed-JSON outcomes out."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from typedflow import ir
from typedflow.dsl.registry import alias_module
from typedflow.dsl.secret import adopt_literals
from typedflow.ir.codec import converter
from typedflow.runtime.context import RunContext
from typedflow.runtime.execute import CacheProbe, TaskError, execute
from typedflow.runtime.store import LocalStore


def _load_main(path: str) -> None:
    """The parent's script, loaded as ``__mp_main__`` (as multiprocessing does: its ``if __name__ ==
    "__main__"`` block does not run); its tasks are then found under ``__main__`` as the IR names them."""
    spec = importlib.util.spec_from_file_location("__mp_main__", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["__mp_main__"] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules["__mp_main__"]
        return
    alias_module("__mp_main__", "__main__")


class _ParentModules(importlib.abc.MetaPathFinder):
    """The parent's own modules (scripts, modules loaded from a file) by name, for modules this process
    cannot import by name itself. Asked after the usual finders, and only when something imports one: a
    worker imports what its tasks need, not every module the parent happens to have loaded (a notebook's
    or a test session's hundreds, some with side effects)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        return None if file is None else importlib.util.spec_from_file_location(fullname, file)


def _import_for(template: ir.TaskTemplate, modules: dict[str, str]) -> None:
    """Import the module of ``template`` before its task starts (an import's time is not the task's); one
    that fails to import is reported by the task's execution, as in a thread."""
    if template.module == "__main__":
        if "__mp_main__" not in sys.modules and "__main__" in modules:
            _load_main(modules["__main__"])
        return
    try:
        importlib.import_module(template.module)
    except Exception:
        pass


def _die_with(parent: int, scratch: Path) -> None:
    """End this worker (and what its task started: its process group) once its parent is gone, so a killed
    run leaves no task running and writing to the store; its scratch space goes too."""
    while os.getppid() == parent:
        time.sleep(0.2)
    shutil.rmtree(scratch, ignore_errors=True)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> None:
    store = LocalStore(Path(sys.argv[1]))
    modules: dict[str, str] = json.loads(sys.stdin.readline() or "{}")  # the first line: see isolation._Worker
    scratch = Path(tempfile.mkdtemp(prefix="typedflow-worker-"))
    parent = int(sys.argv[2]) if len(sys.argv) > 2 else os.getppid()
    threading.Thread(target=_die_with, args=(parent, scratch), daemon=True, name="typedflow-parent-watch").start()
    try:
        _serve(store, modules, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _serve(store: LocalStore, modules: dict[str, str], scratch: Path) -> None:
    sys.meta_path.append(_ParentModules({k: v for k, v in modules.items() if k != "__main__"}))
    templates: dict[str, ir.TaskTemplate] = {}
    # Replies go through a private copy of fd 1; fd 1 itself (what print(), C code and child
    # processes write to) becomes stderr, so nothing a task prints can corrupt the reply channel.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request: dict[str, Any] = json.loads(line)
        tkey = request["template_key"]
        if "template" in request:
            templates[tkey] = converter.structure(request["template"], ir.TaskTemplate)
            _import_for(templates[tkey], modules)
        template = templates[tkey]
        adopt_literals(request.get("secrets") or {})
        if request.get("ack"):  # the task starts now: its timeout is counted from here
            out.write('{"started": true}\n')
            out.flush()
        kept: list[str] = []
        try:
            ctx = request.get("context")
            context = converter.structure(ctx, RunContext) if ctx else None
            # The scheduler already digested the inputs and missed the cache: not again here.
            k = request.get("known")
            known = CacheProbe(k["digests"], k["key"]) if k else None
            outcome = execute(
                template,
                request["inputs"],
                store=store,
                use_cache=request["use_cache"],
                context=context,
                known=known,
                scratch=scratch,
                log=kept.append if request.get("log") else None,
            )
            reply: dict[str, Any] = {"outcome": converter.unstructure(outcome)}
        except TaskError as err:
            reply = {
                "error": {
                    "type": err.error_type,
                    "message": err.message,
                    "traceback": err.traceback,
                    "classes": list(err.classes),  # what the parent's retry policy matches
                }
            }
        except Exception as exc:
            reply = {"error": {"type": type(exc).__name__, "message": str(exc), "traceback": ""}}
        if kept:  # the task's output, for the run's logs (the parent writes them)
            reply["log"] = "".join(kept)
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
