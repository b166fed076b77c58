"""Lazy typed JSON (see :mod:`.protocol`): resolving markers, and offloading large values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from typedflow.ir.canonical import canonical_bytes
from typedflow.util.boundary import BoundaryError, parse_json

from .protocol import FAILURE, JSON_TEXT, MARK, ONE_OF, REF, SEL

Fetch = Callable[[dict[str, Any]], Any]  # a "ref" marker -> its value
FailureOf = Callable[[dict[str, Any]], Any]  # the caught error {"Error", "Cause"} -> a Failure (typed JSON)


def is_marker(v: Any, kind: str | None = None) -> bool:
    return isinstance(v, dict) and isinstance(v.get(MARK), str) and (kind is None or v[MARK] == kind)


def resolve(value: Any, fetch: Fetch, failure: FailureOf | None = None) -> Any:
    """Plain typed JSON: every marker in ``value`` replaced by the value it stands for."""
    if isinstance(value, list):
        return [resolve(v, fetch, failure) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(MARK)
    if kind == REF:
        return resolve(fetch(value), fetch, failure)
    if kind == SEL:
        return _select(resolve(value.get("v"), fetch, failure), value.get("p") or [], fetch, failure)
    if kind == JSON_TEXT:
        text = value.get("text")
        if not isinstance(text, str):
            raise BoundaryError("a JSON-text marker without its text")
        return parse_json(text, "a constant's JSON text")
    if kind == ONE_OF:
        for option in value.get("v") or []:
            got = resolve(option, fetch, failure)
            if got is not None:
                return got
        return None
    if kind == FAILURE:
        if failure is None:
            raise ValueError("the failure is only available to on_failure")
        return _select(failure(value.get("e") or {}), value.get("p") or [], fetch, failure)
    return {k: resolve(v, fetch, failure) for k, v in value.items()}


def _select(v: Any, path: Iterable[str], fetch: Fetch, failure: FailureOf | None) -> Any:
    for key in path:
        if not isinstance(v, dict):
            return None  # a missing step gives null, as in the local interpreter
        v = resolve(v.get(key), fetch, failure)
    return v


def size(value: Any) -> int:
    return len(canonical_bytes(value))


def offload(
    outputs: dict[str, Any],
    *,
    inline: Iterable[str],
    elementwise: Iterable[str],
    limit: int,
    put: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """Outputs with every value over ``limit`` bytes replaced by a reference (``put`` stores it).
    ``inline`` outputs are read by Choice states and stay as they are; ``elementwise`` outputs are
    iterated by Map states: the list stays, its large elements are offloaded one by one."""
    keep, each = set(inline), set(elementwise)
    out: dict[str, Any] = {}
    for name, value in outputs.items():
        if name in keep:
            out[name] = value
        elif name in each and isinstance(value, list):
            out[name] = [put(v) if size(v) > limit else v for v in value]
        else:
            out[name] = put(value) if size(value) > limit else value
    return out
