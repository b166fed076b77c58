"""Which node's ``Failure`` a caught error stands for.

A Catch passes on only the error and its cause, and the failure a handler handles (its block's, the run's) is
not the first one the run recorded: an earlier failure elsewhere, or an item a ``tolerated_failure`` map let
fail, came before it. So the runtime ends the cause of each task failure with the node that failed
(``(typedflow: failed node <key>)``, the last such line wins; a ``fail(...)`` state's cause ends so too) and
keeps that node's ``Failure`` under ``runs/<run>/failures/``; a handler, ``start --wait`` and ``typedflow runs``
read the one the error names. A failed Batch job's cause is its description instead, which names the node in
the environment the compiler gave the job (``TYPEDFLOW_NODE``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import attrs

from typedflow.ir import FAIL_ERROR

from .mapio import is_map_request
from .protocol import CAUSE_LIMIT, FAILED_NODE, NODE_ENV
from .request import NODE_KEY
from .s3store import S3Store

_NAMED: Final = re.compile(re.escape(FAILED_NODE).replace(r"\{\}", f"({NODE_KEY.pattern})"))
# the compiler's entry in a job's environment, as a description cut short still shows it
_NODE_ENTRY: Final = re.compile(r'\{"Name":"' + NODE_ENV + r'","Value":"(' + NODE_KEY.pattern + r')"\}')
_REASON_LIMIT: Final = 2000


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
    """The cause without the line naming its node (the message before it as it was, trailing newlines too)."""
    node = failed_node(cause)
    tail = "\n" + FAILED_NODE.format(node)
    if node is not None and cause.endswith(tail):
        return cause[: -len(tail)]
    return _NAMED.sub("", cause).rstrip("\n")


@attrs.frozen
class BatchJob:
    """What the description of a failed Batch job tells: the node it ran and why it failed."""

    node: str
    reason: str


def batch_job(cause: str) -> BatchJob | None:
    """The failed Batch job whose description ``cause`` is (``States.TaskFailed``'s cause for a
    ``batch:submitJob.sync`` state), if it names a node: in its environment's ``TYPEDFLOW_NODE``, else its
    request's ``node``. A cloud payload: any other shape names none; a description cut short is searched for
    the node's entry."""
    try:
        described = json.loads(cause)
    except (ValueError, RecursionError):
        found = _NODE_ENTRY.search(cause)
        return BatchJob(found.group(1), cause[:CAUSE_LIMIT]) if found else None
    if not isinstance(described, dict):
        return None
    container = _obj(described.get("Container"))
    env = container.get("Environment")
    values = {}
    for entry in env if isinstance(env, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("Name"), str) and isinstance(entry.get("Value"), str):
            values[entry["Name"]] = entry["Value"]
    node = values.get(NODE_ENV)
    if node is None and "TYPEDFLOW_REQUEST" in values:  # a definition compiled before the entry: the request's
        try:
            request = json.loads(values["TYPEDFLOW_REQUEST"])
        except (ValueError, RecursionError):
            request = None
        # (a Distributed Map's own step keeps no Failure of its node: it names none)
        node = None if is_map_request(request) else _obj(request).get("node")
    if not isinstance(node, str) or NODE_KEY.fullmatch(node) is None:
        return None
    return BatchJob(node, _reason(described, container))


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _reason(described: dict[str, Any], container: dict[str, Any]) -> str:
    """Why the job failed: its status reason, with its last attempt's container reason and exit code."""
    attempts = described.get("Attempts")
    last = _obj(_obj(attempts[-1]).get("Container")) if isinstance(attempts, list) and attempts else {}
    why = last.get("Reason", container.get("Reason"))
    code = last.get("ExitCode", container.get("ExitCode"))
    details = [why[:_REASON_LIMIT]] if isinstance(why, str) and why else []
    if isinstance(code, int) and not isinstance(code, bool):
        details.append(f"exit code {code}")
    status = described.get("StatusReason")
    text = status[:_REASON_LIMIT] if isinstance(status, str) and status else "the Batch job failed"
    return f"{text} ({'; '.join(details)})" if details else text


def caught_failure(store: S3Store, workflow: str, run_id: str, error: str, cause: str) -> dict[str, Any]:
    """The ``typedflow.Failure`` a caught error (``error``, ``cause``) stands for: the failure kept for the node
    its cause names (a failed Batch job's description names it too), or, when none was kept (a ``fail(...)``, a
    job that died before its runtime kept one), one made of the error and cause naming that node. A cause that
    names none: an error the definition raised itself (``States.Timeout``, ...) is the failure, naming no node;
    ``States.TaskFailed`` and the errors of an earlier runtime stand for the run's first recorded failure, if
    any."""
    node = failed_node(cause)
    job = batch_job(cause) if node is None and error == "States.TaskFailed" else None
    if job is not None:
        node = job.node
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
        "message": job.reason if job is not None else _plain(cause),
        "traceback": "",
    }
