"""Workflows of the semantics tests (a real module: worker processes import it)."""

from __future__ import annotations

import sys

from typedflow import task, workflow


@task
def quits(code: int) -> int:
    sys.exit(code)


@workflow
def exits(code: int) -> int:
    return quits(code=code)
