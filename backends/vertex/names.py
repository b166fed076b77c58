"""Deterministic, valid and unique KFP names (tasks, components, executors, channels)."""

from __future__ import annotations

import re

_BAD = re.compile(r"[^a-z0-9]+")
MAX_LEN = 100


def sanitize(name: str) -> str:
    """KFP's name shape: lowercase letters, digits and single dashes, starting with a letter."""
    s = _BAD.sub("-", name.lower()).strip("-")
    if not s or not s[0].isalpha():
        s = "t-" + s if s else "t"
    return s[:MAX_LEN].rstrip("-")


class Namer:
    """Hands out unique names in one namespace; the same request order gives the same names."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self.used: set[str] = set(reserved)

    def take(self, base: str) -> str:
        name = base
        n = 1
        while name in self.used:
            n += 1
            name = f"{base}-{n}"
        self.used.add(name)
        return name


def channel(*parts: str) -> str:
    """A ``pipelinechannel--`` name. The tail never contains ``--`` or ``-Output``, which
    kfp.local would read as a task-output reference."""
    return "pipelinechannel--" + "-".join(sanitize(p) for p in parts)


def input_channel(name: str) -> str:
    """The channel of a workflow input; input names are identifiers and keep their spelling."""
    return "pipelinechannel--" + name
