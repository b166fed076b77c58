"""Where values live in the state data (a :class:`Frame`), JSONPaths to them, and the lazy
encoding of a reference as an ASL ``Parameters`` value (see :mod:`.protocol`)."""

from __future__ import annotations

import functools
import json
import re
from collections import ChainMap
from collections.abc import MutableMapping
from typing import Any

import attrs

from .analysis import WHOLE, ChoiceRef, ConstRef, RecordRef, Ref, Requirement, Resolved
from .protocol import FAILURE as FAILURE_MARK
from .protocol import INPUTS_KEY, JSON_TEXT, MARK, ONE_OF, SEL

RUN_ROOT = "$$.Execution.Name"
RUN_KEY = "tf_run"  # the run id in a child state machine's (or a map item's) state data
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_KEY = re.compile(r"[^A-Za-z0-9_]")


def jp(base: str, *keys: str) -> str:
    """``base`` extended by ``keys`` (dot notation for identifiers, brackets otherwise)."""
    out = base
    for k in keys:
        out += _step(k)
    return out


# A large workflow asks for the same few thousand keys and steps many times each (bounded: a compile's worth).
@functools.lru_cache(maxsize=1 << 16)
def _step(k: str) -> str:
    return f".{k}" if _IDENT.match(k) else "['" + k.replace("\\", "\\\\").replace("'", "\\'") + "']"


@functools.lru_cache(maxsize=1 << 16)
def slot_key(prefix: str, key: str) -> str:
    """A state-data key for a node key ("sub/train-2" -> "n_sub__train_2")."""
    return prefix + _NOT_KEY.sub("_", key.replace("/", "__"))


@attrs.frozen
class Loc:
    path: str  # JSONPath of a node's outputs object (or of a map item)
    nullable: bool  # the node may not have run (its slot is null)


@attrs.define
class Frame:
    """Locations of the values visible in the current state data."""

    nodes: MutableMapping[str, Loc] = attrs.Factory(dict)
    items: dict[str, Loc] = attrs.Factory(dict)
    indices: dict[str, str] = attrs.Factory(dict)
    inputs: str = "$." + INPUTS_KEY
    failure: str | None = None
    run: str = RUN_ROOT  # where the run id is: the root execution's name, or what a child was given

    def copy(self) -> Frame:
        """A frame for a block inside this one: it sees this frame's nodes, and what the block sets stays in
        a layer of its own (:meth:`added`), so entering a block costs nothing per node already visible (a
        Parallel of thousands of branches would otherwise copy every earlier node once per branch)."""
        return Frame(
            ChainMap({}, self.nodes), dict(self.items), dict(self.indices), self.inputs, self.failure, self.run
        )

    def added(self, outer: Frame) -> dict[str, Loc]:
        """The nodes this frame (a :meth:`copy` of ``outer``) set to other locations than ``outer`` has."""
        assert isinstance(self.nodes, ChainMap)
        return {k: loc for k, loc in self.nodes.maps[0].items() if outer.nodes.get(k) != loc}


class Path(str):
    """A JSONPath given as a ``Parameters`` value (rendered under a key ending in ``.$``)."""


Spec = Any  # Path | JSON (possibly containing nested Path values)


def put(params: dict[str, Any], key: str, spec: Spec) -> None:
    if isinstance(spec, Path):
        params[key + ".$"] = str(spec)
    else:
        params[key] = spec


def obj(entries: dict[str, Spec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sorted(entries.items()):
        put(out, k, v)
    return out


def _sel(base: str, keys: list[str]) -> dict[str, Any]:
    return {MARK: SEL, "v.$": base, "p": keys}


def _needs_text(v: Any) -> bool:
    if isinstance(v, dict):
        return any(k.endswith(".$") or k == MARK or _needs_text(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_needs_text(x) for x in v)
    return False


def const_spec(value: Any) -> Spec:
    if _needs_text(value):
        return {MARK: JSON_TEXT, "text": json.dumps(value, sort_keys=True, separators=(",", ":"))}
    return value


def base_of(r: Ref, frame: Frame) -> Loc:
    if r.kind == "node":
        return frame.nodes[r.key]
    if r.kind == "item":
        return frame.items[r.key]
    if r.kind == "input":
        return Loc(jp(frame.inputs, r.key), False)
    assert frame.failure is not None, "the failure is only visible to on_failure"
    return Loc(frame.failure, False)


def lazy(r: Resolved, frame: Frame, req: Requirement) -> Spec:
    """A ``Parameters`` value that yields ``r`` as lazy typed JSON."""
    if isinstance(r, ConstRef):
        return const_spec(r.value)
    if isinstance(r, RecordRef):
        return obj({name: lazy(f, frame, req) for name, f in r.fields})
    if isinstance(r, ChoiceRef):  # options by branch index (an object: ASL reads no paths inside a list)
        out: dict[str, Any] = {MARK: ONE_OF}
        put(out, "ran", lazy(r.chain, frame, req))
        out["v"] = obj({str(b): lazy(o, frame, req) for b, o in zip(r.branches, r.options, strict=True)})
        return out
    if r.kind == "failure":
        if frame.failure is None:
            return None  # an exit handler after a block that succeeded: no failure
        return {MARK: FAILURE_MARK, "e.$": base_of(r, frame).path, "p": list(r.path)}
    loc = base_of(r, frame)
    keys = ([r.output] if r.output else []) + list(r.path)
    if loc.nullable:
        return _sel(loc.path, keys) if keys else Path(loc.path)
    head = 1 if (r.kind == "node" and r.output) else 0  # a node's outputs object is never offloaded
    base = jp(loc.path, *keys[:head])
    rest = keys[head:]
    if not rest:
        return Path(base)
    if req.get((r.kind, r.key, r.output or "")) == WHOLE:
        return Path(jp(base, *rest))
    return _sel(base, rest)


def concrete(r: Ref, frame: Frame) -> tuple[str, bool]:
    """The JSONPath of a value that Choice/Map read directly, and whether it may be missing."""
    loc = base_of(r, frame)
    keys = ([r.output] if r.output else []) + list(r.path)
    return jp(loc.path, *keys), loc.nullable or r.optional
