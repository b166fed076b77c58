"""The cyclic garbage collector paused while a compiler builds a large document.

A compile allocates hundreds of thousands of containers (states, specs, JSON objects) that all stay alive
until the text is written. Each full collection walks every one of them, and the collections come more
often as more are allocated, so a 10,000-task compile spent a third of its time in them while finding
nothing to free. Reference counting still frees everything as usual; cycles left over are collected once
the collector resumes.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run with the cyclic collector off (as it was before, after)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return run


__all__ = ["gc_paused"]
