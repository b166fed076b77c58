"""KFP's multiple exit handlers (``test_data/.../failing/pipeline_with_multiple_exit_handlers.py``).

Three independent ``exit_handler`` blocks: the first one's body fails, the other two succeed; each
block's handler runs either way, and the run fails. ``print_op`` writes what it prints into ``log``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from typedflow import exit_handler, task, workflow


@task(cache=False)
def print_op(message: str, log: str) -> None:
    print(message)
    Path(log, hashlib.sha256(message.encode()).hexdigest()[:16]).write_text(message, encoding="utf-8")


@task(cache=False)
def fail_op(message: str) -> None:
    print(message)
    sys.exit(1)


@workflow
def my_pipeline(log: str, message: str = "Hello World!") -> None:
    with exit_handler(print_op, message="First exit handler has worked!", log=log):
        print_op(message, log)
        fail_op("Task failed.")
    with exit_handler(print_op, message="Second exit handler has worked!", log=log):
        print_op(message, log)
    with exit_handler(print_op, message="Third exit handler has worked!", log=log):
        print_op(message, log)


def reference(message: str = "Hello World!") -> tuple[set[str], bool]:
    """(the messages printed, whether the run failed): three independent try/finally blocks."""
    printed: set[str] = set()
    failed = False
    for handler, fails in (("First", True), ("Second", False), ("Third", False)):
        try:
            printed.add(message)
            if fails:
                sys.exit(1)
        except SystemExit:
            failed = True
        finally:
            printed.add(f"{handler} exit handler has worked!")
    return printed, failed
