"""Fail: ends the execution as failed, with a static or data-driven error and cause."""

from __future__ import annotations

import attrs

from . import JSON, State


@attrs.define
class FailState(State):
    error: str | None = None
    cause: str | None = None
    error_path: str | None = None
    cause_path: str | None = None

    @property
    def can_chain(self) -> bool:
        return False

    def to_json(self) -> JSON:
        out: JSON = {"Type": "Fail"}
        if self.comment:
            out["Comment"] = self.comment
        for key, value in (
            ("Error", self.error),
            ("Cause", self.cause),
            ("ErrorPath", self.error_path),
            ("CausePath", self.cause_path),
        ):
            if value is not None:
                out[key] = value
        return out
