"""Pass: shapes state data (Parameters / Result, ResultPath)."""

from __future__ import annotations

from typing import Any

import attrs

from . import JSON, State

_UNSET = object()


@attrs.define
class PassState(State):
    parameters: JSON | None = None
    result: Any = _UNSET
    result_path: str | object | None = _UNSET
    output_path: str | None = None
    input_path: str | None = None

    def to_json(self) -> JSON:
        out: JSON = {"Type": "Pass"}
        if self.input_path is not None:
            out["InputPath"] = self.input_path
        if self.parameters is not None:
            out["Parameters"] = self.parameters
        if self.result is not _UNSET:
            out["Result"] = self.result
        if self.result_path is not _UNSET:
            out["ResultPath"] = self.result_path
        if self.output_path is not None:
            out["OutputPath"] = self.output_path
        return self._flow(out)
