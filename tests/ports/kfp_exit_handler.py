"""KFP's exit-handler sample (``samples/core/exit_handler/exit_handler.py``): a task that runs however the block ends.

``with dsl.ExitHandler(exit_task):`` is ``with exit_handler(print_op, ...):``, the handler's arguments
bound like a call's. In the block, ``fail_op`` ends its process with ``sys.exit(1)`` (the task fails,
as SystemExit), so the run fails, but the handler still prints. ``print_op`` writes each message it
prints into ``log`` (one file per message; ``cache=False``: its effect is outside the store), so what
ran is observable.
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
def pipeline_exit_handler(log: str, message: str = "Hello World!") -> None:
    with exit_handler(print_op, message="Exit handler has worked!", log=log):
        print_op(message, log)
        fail_op("Task failed.")


def reference(message: str = "Hello World!") -> tuple[set[str], bool]:
    """(the messages printed, whether the run failed): the block's tasks, then the handler, in Python."""
    printed = set()
    failed = False
    try:
        printed.add(message)
        sys.exit(1)
    except SystemExit:
        failed = True
    finally:
        printed.add("Exit handler has worked!")
    return printed, failed
