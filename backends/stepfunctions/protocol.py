"""The wire format shared by the compiler (which writes it into ASL) and the runtime (which reads it).

Values in the state machine are *lazy typed JSON*: plain typed JSON in which two kinds of marker
objects may stand for a value. Consumers (the worker, ``start --wait``) resolve them; Choice and Map
states only ever read values that the compiler asked the producer to keep inline.

- ``{"__tf__": "ref", "uri": "s3://…", "sha256": "…", "bytes": n}``: a value offloaded to S3.
- ``{"__tf__": "sel", "v": value, "p": [key, …]}``: ``value`` followed along ``p``; a missing or
  null step gives null (a reference into a ``when`` branch that did not run).
- ``{"__tf__": "failure", "e": {"Error": …, "Cause": …}, "p": [key, …]}``: the failure a handler handles: the
  caught error, whose cause ends with ``(typedflow: failed node <key>)`` when a task failed (the runtime keeps
  that node's ``Failure`` at ``runs/<run>/failures/<key>.json``).
- ``{"__tf__": "json", "text": "…"}``: a constant whose keys would clash with ASL's ``.$`` syntax.
- ``{"__tf__": "oneof", "ran": i, "v": {"i": value, …}}``: ``one_of``: the value of branch ``i``, the branch of
  its when chain that ran (null when ``ran`` is: the chain did not run).
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1
MARK: Final = "__tf__"
REF: Final = "ref"
SEL: Final = "sel"
FAILURE: Final = "failure"
JSON_TEXT: Final = "json"
ONE_OF: Final = "oneof"

# keys of the request a Task state sends to the executor
TOKEN_KEY: Final = "TaskToken"
REQUEST_KEY: Final = "typedflow"

# state-data layout: the workflow inputs, the caught error
INPUTS_KEY: Final = "in"
ERROR_KEY: Final = "err"
ON_FAILURE_ERROR_KEY: Final = "err_on_failure"

# The last line of the cause of a task's failure: which node failed (the caught error is all a Catch passes on,
# so this is how a handler, and the reported failure, find that node's Failure rather than the run's first).
FAILED_NODE: Final = "(typedflow: failed node {})"
# The environment entry naming a Batch job's node: a failed job's cause is its description, which holds it.
NODE_ENV: Final = "TYPEDFLOW_NODE"

DEFAULT_OFFLOAD_THRESHOLD: Final = 32 * 1024
DEFAULT_HEARTBEAT_SECONDS: Final = 60
# Seconds an ECS task's container may take to start before its runtime can heartbeat: Fargate placement, the image
# pull, and on the stock image the bootstrap's install of the environment's packages.
DEFAULT_ECS_START_SECONDS: Final = 600
PAYLOAD_LIMIT: Final = 262_144
DEFINITION_LIMIT: Final = 1_048_576
HISTORY_LIMIT: Final = 25_000
DISTRIBUTED_CONCURRENCY: Final = 10_000  # child executions a Distributed Map runs at once
NAME_LIMIT: Final = 80
ERROR_LIMIT: Final = 256
CAUSE_LIMIT: Final = 32_768
