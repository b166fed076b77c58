"""A task request as an executor receives it, parsed and checked before anything runs.

The request comes from state data that whoever can start an execution or send to the queue can shape,
so every field is checked for its type and form here; :class:`~typedflow.util.boundary.BoundaryError` names
the first problem.
"""

from __future__ import annotations

import re
from typing import Any, Final

import attrs

from typedflow.ir import NodeOptions
from typedflow.util.boundary import BoundaryError, check_digest, check_name

from .protocol import PROTOCOL_VERSION

RUN_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
NODE_KEY: Final = re.compile(r"[A-Za-z0-9_.\-\[\]/]{1,1024}")
MAX_RETRY: Final = 10_000
MAX_HEARTBEAT: Final = 366 * 24 * 3600
FIELDS: Final = frozenset(
    {
        "v",
        "ir",
        "code",
        "task",
        "run",
        "node",
        "store",
        "retry",
        "args",
        "inline",
        "elementwise",
        "offload",
        "heartbeat",
        "options",
    }
)


@attrs.frozen
class Request:
    ir: str  # the workflow IR's digest
    task: str
    run: str
    node: str
    store: str | None
    retry: int
    args: dict[str, Any]
    inline: tuple[str, ...]
    elementwise: tuple[str, ...]
    offload: int
    heartbeat: int | None
    options: NodeOptions | None = None  # the call's own options (``task.options(...)``)
    code: str | None = None  # the digest of the code bundle the task's module is imported from


def parse_request(data: Any) -> Request:
    """The checked request; raises :class:`BoundaryError` naming what is wrong."""
    if not isinstance(data, dict):
        raise BoundaryError(f"a task request must be a JSON object, got {type(data).__name__}")
    if data.get("v") != PROTOCOL_VERSION:
        raise BoundaryError(f"request version {data.get('v')!r}; this runtime speaks {PROTOCOL_VERSION}")
    extra = sorted(set(data) - FIELDS)
    if extra:
        raise BoundaryError(f"unexpected request field {extra[0]!r}")
    run = _str(data, "run", "")
    if run and RUN_ID.fullmatch(run) is None:
        raise BoundaryError(f"request field 'run': {run[:80]!r} is not an execution name")
    node = _str(data, "node", "")
    if node and NODE_KEY.fullmatch(node) is None:
        raise BoundaryError(f"request field 'node': {node[:80]!r} is not a node key")
    store = data.get("store")
    if store is not None and not isinstance(store, str):
        raise BoundaryError("request field 'store' must be a string")
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise BoundaryError("request field 'args' must be an object of the task's inputs")
    return Request(
        ir=check_digest(data.get("ir"), "request field 'ir'"),
        task=check_name(data.get("task"), "request field 'task'"),
        run=run,
        node=node,
        store=store,
        retry=int_field(data, "retry", 0, 0, MAX_RETRY),
        args=args,
        inline=names_field(data, "inline"),
        elementwise=names_field(data, "elementwise"),
        offload=int_field(data, "offload", 32768, 0, 1 << 30),
        heartbeat=int_field(data, "heartbeat", None, 1, MAX_HEARTBEAT),
        options=_options(data.get("options")),
        code=check_digest(data["code"], "request field 'code'") if data.get("code") is not None else None,
    )


def _options(data: Any) -> NodeOptions | None:
    if data is None:
        return None
    from typedflow.ir.codec import converter

    try:
        options: NodeOptions = converter.structure(data, NodeOptions)
    except Exception as exc:
        raise BoundaryError(f"request field 'options': not a task call's options ({exc})") from None
    return options


def _str(data: dict[str, Any], key: str, default: str) -> str:
    v = data.get(key, default)
    if not isinstance(v, str):
        raise BoundaryError(f"request field {key!r} must be a string, got {type(v).__name__}")
    return v


def int_field(data: dict[str, Any], key: str, default: Any, low: int, high: int) -> Any:
    """``data[key]``, an integer from ``low`` to ``high``; ``default`` when it is absent."""
    v = data.get(key, default)
    if v is None or v is default:
        return v
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise BoundaryError(f"request field {key!r} must be an integer from {low} to {high}, got {v!r:.40}")
    return v


def names_field(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """``data[key]``, a list of output names (none when it is absent)."""
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise BoundaryError(f"request field {key!r} must be a list of output names")
    return tuple(v)
