"""A local run that stops itself as Ctrl-C or `runs cancel` would stop it: one task still running, one kept."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from typedflow import task, workflow


@task
def held(x: int, hold: str) -> int:
    """Runs while ``hold`` exists (at most a minute); says it has started with ``<hold>.started``."""
    Path(hold + ".started").touch()
    deadline = time.monotonic() + 60
    while Path(hold).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return x


@task
def stopper(x: int, hold: str) -> int:
    """Once ``held`` runs, the run's own process gets SIGTERM (what `typedflow runs cancel` sends)."""
    deadline = time.monotonic() + 30
    while not Path(hold + ".started").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    if Path(hold).exists():
        os.kill(os.getpid(), signal.SIGTERM)
    return x + 1


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def stops(x: int, hold: str) -> int:
    return add(stopper(x, hold), held(x, hold))
