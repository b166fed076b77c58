"""The tracer of the workflow body being traced, if any: what a ``@task`` call or a block asks first."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typedflow.dsl.tracing import Tracer

_STACK: list[Tracer] = []  # nested: a workflow defined while another is traced


def current() -> Tracer | None:
    return _STACK[-1] if _STACK else None


def push(tracer: Tracer) -> None:
    _STACK.append(tracer)


def pop() -> None:
    _STACK.pop()
