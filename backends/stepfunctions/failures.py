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

from typedflow.ir import FAIL_ERROR

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
    its cause names. A cause that names none: an error the definition raised itself (``States.Timeout``, ...,
    ``fail(...)``'s ``typedflow.Fail``) is the failure, naming no node; ``States.TaskFailed`` (a Batch job's
    failure, whose cause is the job's description) and the errors of an earlier runtime stand for the run's
    first recorded failure, if any."""
    node = failed_node(cause)
    if node is not None:
        kept = store.get_node_failure(run_id, node)
        if kept is not None and kept.get("node") == node:
            return kept
    elif error == "States.TaskFailed" or not (error.startswith("States.") or error == FAIL_ERROR):
        first = store.get_failure(run_id)
        if first is not None:
            return first
    return {
        "workflow": workflow,
        "run_id": run_id,
        "node": node or "",
        "error_type": error,
        "message": _plain(cause),
        "traceback": "",
    }
