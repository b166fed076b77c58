"""What a run tells those who follow it: each node's final state, and progress events on the way."""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

__all__ = ["CACHED", "FAILED", "RUNNING", "SKIPPED", "SUCCEEDED", "TOLERATED", "Event", "NodeReport", "NodeStatus"]

# A node's final state.
NodeStatus = Literal["succeeded", "cached", "failed", "skipped"]
SUCCEEDED: Final = "succeeded"
CACHED: Final = "cached"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
# Progress events, which are not a node's final state: a task started running (or waits for a
# worker), will be retried; a map started (``items``) or finished an item; the run started or is stopping.
Event = Literal["running", "retry", "map", "item", "item-failed", "run-started", "stopping"]
RUNNING: Final = "running"
# The reason of a failed node in an item that its map tolerated (``tolerated_failure``): the run did not fail there.
TOLERATED: Final = "tolerated"


@attrs.define
class NodeReport:
    """A node's final state (:data:`NodeStatus`) or a progress event (:data:`Event`)."""

    key: str  # the node instance, e.g. "train" or "map[3]/score"
    node: str
    task: str | None
    status: NodeStatus | Event
    attempts: int = 0
    duration: float = 0.0
    started_at: str = ""
    ended_at: str = ""
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    cache_key: str | None = None
    inputs: dict[str, Any] = attrs.Factory(dict)
    outputs: dict[str, Any] = attrs.Factory(dict)
    reason: str = ""
    input_digests: dict[str, str] = attrs.Factory(dict)
    items: int = 0  # for "map" progress events: how many items the map has
    handler: bool = False  # an on_failure or exit handler's run, not a node of the graph
