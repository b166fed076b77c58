"""Which node's ``Failure`` a caught error stands for.

A Catch passes on only the error and its cause, and the failure a handler handles (its block's, the run's) is
not the first one the run recorded: an earlier failure elsewhere, or an item a ``tolerated_failure`` map let
fail, came before it. So the runtime ends the cause of each task failure with the node that failed
(``(typedflow: failed node <key>)``, the last such line wins) and keeps that node's ``Failure`` under
``runs/<run>/failures/``; a handler, ``start --wait`` and ``typedflow runs`` read the one the error names.
"""

from __future__ import annotations

import re
from typing import Any, Final

from .protocol import CAUSE_LIMIT, FAILED_NODE
from .request import NODE_KEY
from .s3store import S3Store

_NAMED: Final = re.compile(re.escape(FAILED_NODE).replace(r"\{\}", f"({NODE_KEY.pattern})"))


def naming(cause: str, node: str) -> str:
    """``cause`` (cut to fit) ending with the line that names ``node``."""
    if not node:
        return cause[:CAUSE_LIMIT]
    tail = "\n" + FAILED_NODE.format(node)
    return cause[: CAUSE_LIMIT - len(tail)] + tail


def failed_node(cause: str) -> str | None:
    """The node the cause of a caught error names (the last one: a cause may quote an item's), if any."""
    names = _NAMED.findall(cause)
    return str(names[-1]) if names else None


def _plain(cause: str) -> str:
    """The cause without the line naming its node."""
    return _NAMED.sub("", cause).rstrip("\n")


def caught_failure(store: S3Store, workflow: str, run_id: str, error: str, cause: str) -> dict[str, Any]:
    """The ``typedflow.Failure`` a caught error (``error``, ``cause``) stands for: the failure kept for the node
    its cause names, else one made of the error itself (a failure Step Functions raised: a timeout, a service
    error; a ``fail(...)``), naming no node."""
    node = failed_node(cause)
    if node is not None:
        kept = store.get_node_failure(run_id, node)
        if kept is not None and kept.get("node") == node:
            return kept
    return {
        "workflow": workflow,
        "run_id": run_id,
        "node": node or "",
        "error_type": error,
        "message": _plain(cause),
        "traceback": "",
    }


def run_failure(store: S3Store, workflow: str, run_id: str, error: str, cause: str) -> dict[str, Any]:
    """The failure of a run that ended with ``error`` and ``cause``: as :func:`caught_failure`; a run of an earlier
    runtime (no node named) by the first failure it kept (``runs/<run>/failure.json``)."""
    if failed_node(cause) is None:
        first = store.get_failure(run_id)
        if first is not None:
            return first
    return caught_failure(store, workflow, run_id, error, cause)
