"""Task: calls a service integration; carries Retry, Catch, timeouts and where its result goes."""

from __future__ import annotations

import attrs

from . import JSON, Catcher, Retrier, State


@attrs.define
class TaskState(State):
    resource: str = ""
    parameters: JSON | None = None
    result_selector: JSON | None = None
    result_path: str | None = None
    timeout_seconds: int | None = None
    heartbeat_seconds: int | None = None
    retry: list[Retrier] = attrs.Factory(list)
    catch: list[Catcher] = attrs.Factory(list)

    def successors(self) -> list[str]:
        return super().successors() + [c.next for c in self.catch]

    def to_json(self) -> JSON:
        out: JSON = {"Type": "Task", "Resource": self.resource}
        if self.parameters is not None:
            out["Parameters"] = self.parameters
        if self.result_selector is not None:
            out["ResultSelector"] = self.result_selector
        out["ResultPath"] = self.result_path
        if self.timeout_seconds is not None:
            out["TimeoutSeconds"] = self.timeout_seconds
        if self.heartbeat_seconds is not None:
            out["HeartbeatSeconds"] = self.heartbeat_seconds
        if self.retry:
            out["Retry"] = [r.to_json() for r in self.retry]
        if self.catch:
            out["Catch"] = [c.to_json() for c in self.catch]
        return self._flow(out)
