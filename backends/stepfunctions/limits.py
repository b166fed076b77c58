"""Step Functions quotas checked at compile time: errors for hard limits, a warning for history."""

from __future__ import annotations

import json
import warnings
from typing import Any

from .graph import DefinitionError, check_names
from .options import Options
from .protocol import DEFINITION_LIMIT, HISTORY_LIMIT


class HistoryWarning(UserWarning):
    """An execution may exceed the 25,000-event history quota of a Standard workflow."""


_EVENTS = {"Pass": 2, "Choice": 2, "Succeed": 2, "Fail": 1, "Wait": 3}
_TASK_EVENTS = 6  # entered, scheduled, started, submitted, succeeded, exited


def size(definition: dict[str, Any]) -> int:
    """Bytes of the definition as deploy sends it (compact JSON)."""
    return len(json.dumps(definition, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def estimate_events(graph: dict[str, Any], map_size: int) -> int:
    """History events of one successful run, every state visited once (an upper bound for choices),
    each Map running ``map_size`` items."""
    total = 0
    for state in graph["States"].values():
        kind = state["Type"]
        if kind == "Task":
            total += _TASK_EVENTS
        elif kind == "Parallel":
            total += 4 + sum(estimate_events(b, map_size) for b in state["Branches"])
        elif kind == "Map":
            total += 4 + map_size * (2 + estimate_events(state["ItemProcessor"], map_size))
        else:
            total += _EVENTS.get(kind, 2)
    return total


def check(definition: dict[str, Any], opts: Options) -> None:
    problems = check_names(definition)
    n = size(definition)
    if n > DEFINITION_LIMIT:
        problems.append(
            f"the definition is {n:,} bytes; Step Functions accepts at most {DEFINITION_LIMIT:,} "
            "(split the workflow into sub-workflows deployed separately, or fewer nodes)"
        )
    if problems:
        raise DefinitionError(problems)
    events = estimate_events(definition, opts.map_size) + 2
    if events > HISTORY_LIMIT:
        warnings.warn(
            f"an execution may record about {events:,} history events (map_over of {opts.map_size} "
            f"items assumed, --map-size); Standard workflows stop at {HISTORY_LIMIT:,}",
            HistoryWarning,
            stacklevel=3,
        )
