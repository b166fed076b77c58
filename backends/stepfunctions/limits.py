"""Step Functions quotas checked at compile time: errors for hard limits, a warning for history."""

from __future__ import annotations

import json
import warnings
from typing import Any

import attrs

from typedflow import ir
from typedflow.util.prettyjson import compact

from .graph import DefinitionError, check_names
from .options import Options
from .protocol import DEFINITION_LIMIT, HISTORY_LIMIT


class HistoryWarning(UserWarning):
    """An execution may exceed the 25,000-event history quota of a Standard workflow."""


_EVENTS = {"Pass": 2, "Choice": 2, "Succeed": 2, "Fail": 1, "Wait": 3}
_TASK_EVENTS = 6  # entered, scheduled, started, submitted, succeeded, exited


def size(definition: dict[str, Any]) -> int:
    """Bytes of the definition as deploy sends it (compact JSON). The text is ASCII (escaped), so it has as
    many bytes as characters, and the order of keys does not change its length."""
    return len(json.dumps(definition, separators=(",", ":")))


# Bytes a value of a kind takes in the state data: a bound where the type gives one, a file handle's usual size;
# text and containers are not bounded by their type (one over the offload threshold travels as a reference
# of about _VALUE_BYTES bytes), so a small value's size stands in for them.
_KIND_BYTES = {"bool": 5, "int": 20, "float": 24, "none": 4, "date": 12, "datetime": 34, "file": 256, "directory": 256}
_VALUE_BYTES = 160


def value_bytes(t: ir.TypeRef) -> int:
    """Estimated bytes of a JSON value of type ``t`` in a state's data."""
    if t.kind == "optional":
        return value_bytes(t.args[0])
    return _KIND_BYTES.get(t.kind, _VALUE_BYTES)


def map_payload(node: ir.MapNode, map_size: int) -> int:
    """Estimated bytes an inline Map of ``map_size`` items keeps in the state data: its items (the list it
    iterates) and its results (the list it returns), which are there at once after it."""
    return map_size * (value_bytes(node.item_type) + value_bytes(node.result_type) + 2)


def estimate_events(graph: dict[str, Any], map_size: int) -> int:
    """History events of one successful run, every state visited once (an upper bound for choices),
    each Map running ``map_size`` items."""
    total = 0
    graphs: list[tuple[dict[str, Any], int]] = [(graph, 1)]  # (graph, how many times it runs)
    while graphs:
        g, times = graphs.pop()
        for state in g["States"].values():
            kind = state["Type"]
            if kind == "Task":
                total += times * _TASK_EVENTS
            elif kind == "Parallel":
                total += times * 4
                graphs.extend((b, times) for b in state["Branches"])
            elif kind == "Map":
                if state["ItemProcessor"].get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
                    total += times * 6  # a map run started and ended; the items' events are the children's
                else:
                    total += times * (4 + 2 * map_size)
                    graphs.append((state["ItemProcessor"], times * map_size))
            else:
                total += times * _EVENTS.get(kind, 2)
    return total


def count_states(definition: dict[str, Any]) -> int:
    """States in a definition, those of Parallel branches and Map item processors included."""
    total = 0
    graphs = [definition]
    while graphs:
        g = graphs.pop()
        for state in g["States"].values():
            total += 1
            graphs.extend(state.get("Branches", ()))
            if "ItemProcessor" in state:
                graphs.append(state["ItemProcessor"])
    return total


def has_distributed_map(definition: dict[str, Any]) -> bool:
    """Whether a definition runs a Distributed Map (its role then starts child executions of itself)."""
    graphs = [definition]
    while graphs:
        g = graphs.pop()
        for state in g["States"].values():
            if state["Type"] == "Map" and state["ItemProcessor"]["ProcessorConfig"].get("Mode") == "DISTRIBUTED":
                return True
            graphs.extend(state.get("Branches", ()))
            if "ItemProcessor" in state:
                graphs.append(state["ItemProcessor"])
    return False


@attrs.frozen
class Measure:
    """What a definition takes of the quotas, measured once (encoding a large one takes a while)."""

    definition: dict[str, Any]
    bytes: int
    events: int  # of one successful run, for ``opts.map_size`` items per map
    states: int
    text: str  # its compact JSON (sorted keys), which the output file is indented from


def measure(definition: dict[str, Any], opts: Options) -> Measure:
    text = compact(definition)
    # what deploy sends escapes non-ASCII text; an ASCII text is that text, byte for byte but for key order
    n = len(text) if text.isascii() else size(definition)
    return Measure(definition, n, estimate_events(definition, opts.map_size), count_states(definition), text)


def fits(m: Measure, opts: Options) -> bool:
    """Whether one state machine holds the definition within the limits (and ``opts.max_states``)."""
    if opts.max_states is not None and m.states > opts.max_states:
        return False
    return m.bytes <= DEFINITION_LIMIT and m.events + 2 <= HISTORY_LIMIT


def states_budget(states: int, size: int, events: int) -> int:
    """States per child state machine for a workflow whose single definition (``states`` states, ``size``
    bytes, ``events`` history events) does not fit: its states in proportion to the share of the limits one
    machine can take, with room to spare."""
    share = min(DEFINITION_LIMIT / max(1, size), HISTORY_LIMIT / max(1, events))
    return max(16, int(states * share * 0.7))


def check(m: Measure, opts: Options, name: str = "") -> None:
    definition = m.definition
    problems = check_names(definition)
    n = m.bytes
    where = f"state machine {name}: " if name else ""
    if n > DEFINITION_LIMIT:
        problems.append(
            f"{where}the definition is {n:,} bytes; Step Functions accepts at most {DEFINITION_LIMIT:,} (a part "
            "that cannot be split further: a map_over body or a when branch this large)"
        )
    if problems:
        raise DefinitionError(problems)
    events = m.events + 2
    if events > HISTORY_LIMIT:
        warnings.warn(
            f"{where}an execution may record about {events:,} history events (map_over of {opts.map_size} "
            f"items assumed, --map-size); Standard workflows stop at {HISTORY_LIMIT:,}",
            HistoryWarning,
            stacklevel=3,
        )
