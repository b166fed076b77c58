"""ASL states as data: each kind renders its own JSON with ``to_json()`` (a pure function)."""

from __future__ import annotations

from typing import Any

import attrs

ALL_ERRORS = "States.ALL"
JSON = dict[str, Any]


@attrs.frozen
class Retrier:
    errors: tuple[str, ...]
    interval_seconds: int
    max_attempts: int
    backoff_rate: float
    max_delay_seconds: int | None = None
    jitter: bool = False

    def to_json(self) -> JSON:
        out: JSON = {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
        }
        if self.max_delay_seconds is not None:
            out["MaxDelaySeconds"] = self.max_delay_seconds
        if self.jitter:
            out["JitterStrategy"] = "FULL"
        return out


@attrs.frozen
class Catcher:
    errors: tuple[str, ...]
    next: str
    result_path: str | None

    def to_json(self) -> JSON:
        return {"ErrorEquals": list(self.errors), "Next": self.next, "ResultPath": self.result_path}


@attrs.define
class State:
    """A state: ``next`` None with ``end`` False means "not wired yet" (the graph checks it)."""

    name: str
    comment: str = ""
    next: str | None = None
    end: bool = False

    @property
    def can_chain(self) -> bool:
        return True

    def successors(self) -> list[str]:
        return [self.next] if self.next else []

    def _flow(self, out: JSON) -> JSON:
        if self.comment:
            out["Comment"] = self.comment
        if self.next is not None:
            out["Next"] = self.next
        elif self.end:
            out["End"] = True
        return out

    def to_json(self) -> JSON:
        raise NotImplementedError


def render_graph(start: str, states: list[State]) -> JSON:
    return {"StartAt": start, "States": {s.name: s.to_json() for s in states}}
