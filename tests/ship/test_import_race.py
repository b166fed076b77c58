"""A task module imported by several runtime threads at once: every thread waits for the one import
(issue: a fresh worker's Map took the half-imported module from sys.modules)."""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path

import pytest

from typedflow.dsl.registry import forget_module
from typedflow.runtime import execute

MODULE = """
import time
from typedflow import task

@task
def square(x: int) -> int:
    return helper(x) * x

time.sleep(0.3)  # a slow import: other threads ask for the module meanwhile

def helper(x: int) -> int:
    return x
"""


def test_threads_wait_for_a_module_another_thread_is_importing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"slow_corpus_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    # The template as the IR has it: computed in a separate process would need an import too, so the
    # module is imported once here, the template kept, and the module forgotten again.
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__(name)
    template = sys.modules[name].square.template
    del sys.modules[name]
    forget_module(name)
    execute._CALLINGS.clear()

    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def call(i: int) -> None:
        start.wait()
        try:
            task = execute.resolve(template)
            results.append(task.fn(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == [i * i for i in range(8)]  # type: ignore[type-var]
    assert sys.modules[name].square.signature.template.code_digest == template.code_digest
