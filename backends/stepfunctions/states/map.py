"""Map: runs a sub-graph once per element of ``items_path``, inline or as child executions (distributed)."""

from __future__ import annotations

import attrs

from . import JSON, Catcher, State


@attrs.define
class MapState(State):
    items_path: str | None = "$"  # None: the items come from ``item_reader``
    item_selector: JSON | None = None
    processor: JSON = attrs.Factory(dict)  # rendered sub-graph {"StartAt", "States"}
    max_concurrency: int | None = None
    distributed: bool = False  # each item a child execution (a Distributed Map)
    tolerated_failure_percentage: float | None = None  # distributed only
    item_reader: JSON | None = None  # distributed only: where the items are read from (S3)
    result_writer: JSON | None = None  # distributed only: where the children's results are written (S3)
    result_selector: JSON | None = None
    result_path: str | None = None
    catch: list[Catcher] = attrs.Factory(list)

    def successors(self) -> list[str]:
        return super().successors() + [c.next for c in self.catch]

    def to_json(self) -> JSON:
        out: JSON = {
            "Type": "Map",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **self.processor},
        }
        if self.items_path is not None:
            out["ItemsPath"] = self.items_path
        if self.distributed:
            # STANDARD children: their tasks wait for task tokens, which EXPRESS executions cannot
            config = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
            out["ItemProcessor"] = {"ProcessorConfig": config, **self.processor}
            if self.tolerated_failure_percentage:
                out["ToleratedFailurePercentage"] = self.tolerated_failure_percentage
            if self.item_reader is not None:
                out["ItemReader"] = self.item_reader
            if self.result_writer is not None:
                out["ResultWriter"] = self.result_writer
        if self.item_selector is not None:
            out["ItemSelector"] = self.item_selector
        if self.max_concurrency is not None:
            out["MaxConcurrency"] = self.max_concurrency
        if self.result_selector is not None:
            out["ResultSelector"] = self.result_selector
        out["ResultPath"] = self.result_path
        if self.catch:
            out["Catch"] = [c.to_json() for c in self.catch]
        return self._flow(out)
