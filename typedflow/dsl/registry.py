"""What this process has defined: its live tasks, and the definitions a ``collecting()`` block sees.

A runtime in the defining process finds a task by (module, qualname) here without importing
anything (a script's tasks live in ``__main__``). ``typedflow check`` imports modules inside
:func:`collecting`, so a workflow with errors keeps them for the report instead of raising.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from typedflow.dsl.tasks import Task
    from typedflow.dsl.workflows import Workflow

__all__ = ["Collected", "alias_module", "collecting", "collector", "forget_module", "live_task", "register_task"]

TaskKey = tuple[str, str]  # (module, qualname)

_LIVE: dict[TaskKey, Task[Any, Any]] = {}


def register_task(key: TaskKey, task: Task[Any, Any]) -> None:
    _LIVE[key] = task


def live_task(key: TaskKey) -> Task[Any, Any] | None:
    return _LIVE.get(key)


def alias_module(source: str, target: str) -> None:
    """Every task of module ``source`` found under ``target`` too (a script loaded as ``__mp_main__``
    whose IR says ``__main__``)."""
    for (mod, qualname), task in list(_LIVE.items()):
        if mod == source:
            _LIVE[(target, qualname)] = task


def forget_module(module: str) -> None:
    """Drop the tasks of ``module`` (a module unloaded to be imported afresh)."""
    for key in [k for k in _LIVE if k[0] == module]:
        del _LIVE[key]


@attrs.define
class Collected:
    """The workflows and tasks defined inside one :func:`collecting` block, in definition order."""

    workflows: list[Workflow[Any, Any]] = attrs.Factory(list)
    tasks: list[Task[Any, Any]] = attrs.Factory(list)


_COLLECTING: contextvars.ContextVar[Collected | None] = contextvars.ContextVar("typedflow_collecting", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[Collected]:
    """Definitions made inside the block are collected, and a workflow with definition errors keeps
    them (``Workflow.problems``) instead of raising."""
    collected = Collected()
    token = _COLLECTING.set(collected)
    try:
        yield collected
    finally:
        _COLLECTING.reset(token)


def collector() -> Collected | None:
    """The innermost :func:`collecting` block's collection, if any."""
    return _COLLECTING.get()
