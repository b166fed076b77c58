"""KFP's exit handler with the task's final status (``local_execution_pipeline_with_exit_handler.py``).

The handler's ``PipelineTaskFinalStatus`` parameter is ``failure: Failure | None = None`` here: None
when the block succeeded, the block's first failure otherwise. KFP cannot return a value from inside
an exit handler; here the block's values are read after it as usual, so the workflow returns what
``echo`` returned. The original only succeeds; the port's ``echo`` also fails (``fail(...)``) on an
empty message, so both statuses are seen. The handler writes the status it got into ``log``.
"""

from __future__ import annotations

from pathlib import Path

from typedflow import Failure, exit_handler, fail, task, when, workflow


@task(cache=False)
def record_exit(log: str, failure: Failure | None = None) -> None:
    state = "SUCCEEDED" if failure is None else f"FAILED ({failure.message})"
    Path(log, "exit").write_text(f"exit:{state}", encoding="utf-8")


@task
def echo(message: str) -> str:
    return message


@workflow
def pipeline_with_exit_handler(log: str, message: str = "hello") -> str:
    with exit_handler(record_exit, log=log):
        echoed = echo(message)
        with when(echoed == ""):
            fail("empty message")
    return echoed


def reference(message: str = "hello") -> tuple[str | None, str]:
    """(the result, or None when the run failed; what the handler recorded)."""
    try:
        if message == "":
            raise RuntimeError("empty message")
        return message, "exit:SUCCEEDED"
    except RuntimeError as exc:
        return None, f"exit:FAILED ({exc})"
