"""Succeed: ends the execution (or a branch) successfully."""

from __future__ import annotations

import attrs

from . import JSON, State


@attrs.define
class SucceedState(State):
    output_path: str | None = None

    @property
    def can_chain(self) -> bool:
        return False

    def to_json(self) -> JSON:
        out: JSON = {"Type": "Succeed"}
        if self.comment:
            out["Comment"] = self.comment
        if self.output_path is not None:
            out["OutputPath"] = self.output_path
        return out
