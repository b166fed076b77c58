"""Parallel: runs branches (each a sub-graph) concurrently; the result is the list of their outputs."""

from __future__ import annotations

import attrs

from . import JSON, Catcher, State


@attrs.define
class ParallelState(State):
    branches: list[JSON] = attrs.Factory(list)  # rendered sub-graphs {"StartAt", "States"}
    result_selector: JSON | None = None
    result_path: str | None = None
    catch: list[Catcher] = attrs.Factory(list)

    def successors(self) -> list[str]:
        return super().successors() + [c.next for c in self.catch]

    def to_json(self) -> JSON:
        out: JSON = {"Type": "Parallel", "Branches": self.branches}
        if self.result_selector is not None:
            out["ResultSelector"] = self.result_selector
        out["ResultPath"] = self.result_path
        if self.catch:
            out["Catch"] = [c.to_json() for c in self.catch]
        return self._flow(out)
