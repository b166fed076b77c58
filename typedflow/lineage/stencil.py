"""Task records of one run and task, encoded without building a :class:`LineageRecord`.

A run writes one record per task execution, and most of a record is the same for every execution of
a task in a run (run id, workflow, digests, versions, identity). A stencil encodes those fields once
and splices the rest in, giving exactly the canonical bytes of the equivalent record (a property the
tests check against :func:`~typedflow.lineage.record.record_line`): the general encoder, cattrs and
attrs cost more per record than the task a ``map_over`` item runs.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii as _s
from typing import Final

from typedflow._version import __version__
from typedflow.lineage.record import STATUSES, ParamValue, identity, new_record_id, now_rfc3339

__all__ = [
    "Prepared",
    "RefTuple",
    "TaskStencil",
    "param_json",
    "params_json",
    "ref_json",
    "refs_json",
    "value_ref_tail",
]

# A record pre-encoded (ASCII) around its two chain fields: line = a + prev_hash + b + str(seq) + c.
Prepared = tuple[str, str, str]
ColumnPairs = tuple[tuple[str, str], ...]
# ValueRef fields: name, digest, uri, sha256, and for a table file with a schema its columns and digest.
RefTuple = (
    tuple[str, str, str | None, str | None] | tuple[str, str, str | None, str | None, ColumnPairs | None, str | None]
)

_PYTHON_VERSION: Final = platform.python_version()
_DONE: Final = frozenset({"succeeded", "cached", "skipped"})  # statuses without an error (and never escaped)
_int_repr: Final = int.__repr__
_float_repr: Final = float.__repr__


def _opt(v: str | None) -> str:
    return "null" if v is None else _s(v)


def ref_json(
    name: str,
    digest: str,
    uri: str | None,
    sha256: str | None,
    columns: ColumnPairs | None = None,
    schema_digest: str | None = None,
) -> str:
    """One ValueRef as canonical JSON (keys sorted: columns, digest, name, schema_digest, sha256,
    uri; the schema's two only when set)."""
    head = "{" if columns is None else '{"columns":' + columns_json(columns) + ","
    schema = "" if schema_digest is None else f',"schema_digest":{_s(schema_digest)}'
    return f'{head}"digest":{_s(digest)},"name":{_s(name)}{schema},"sha256":{_opt(sha256)},"uri":{_opt(uri)}}}'


def columns_json(columns: ColumnPairs) -> str:
    return "[" + ",".join(f"[{_s(n)},{_s(t)}]" for n, t in columns) + "]"


def value_ref_tail(name: str) -> str:
    """What follows the digest in the ref of a value that is not a file: ``'{"digest":' + digest + tail``."""
    return f',"name":{_s(name)},"sha256":null,"uri":null}}'


def refs_json(refs: Sequence[RefTuple]) -> str:
    return "[" + ",".join([ref_json(*r) for r in refs]) + "]"


def param_json(v: ParamValue) -> str:
    """A safe parameter value as the canonical encoder writes it: bool before int (a subclass), repr
    for numbers."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return _int_repr(v)
    if isinstance(v, float):
        return _float_repr(v)
    return _s(v)


def params_json(params: Mapping[str, ParamValue]) -> str:
    if not params:
        return "{}"
    return "{" + ",".join([f"{_s(k)}:{param_json(params[k])}" for k in sorted(params)]) + "}"


class TaskStencil:
    """Encodes the task records of one task in one run, for one log (``log_origin``)."""

    __slots__ = ("_after_code", "_after_error", "_after_outputs", "_run", "_tail", "_version")

    def __init__(
        self,
        *,
        run_id: str,
        workflow: str,
        ir_digest: str,
        target: str,
        executor: str,
        task: str,
        code_digest: str | None,
        image: str | None,
        log_origin: str,
    ) -> None:
        user, host = identity()
        # The fixed values, encoded once, with the keys around them in sorted order.
        self._after_code = f',"code_digest":{_opt(code_digest)},"ended_at":'
        self._after_error = f',"executor":{_s(executor)},"host":{_s(host)},"image":{_opt(image)},"inputs":'
        self._after_outputs = f',"ir_digest":{_s(ir_digest)},"kind":"task","log_origin":{_s(log_origin)},"node_id":'
        self._version = f'","python_version":{_s(_PYTHON_VERSION)},"record_id":'
        self._run = f',"run_id":{_s(run_id)},"seq":'
        self._tail = (
            f',"target":{_s(target)},"task":{_s(task)},"typedflow_version":{_s(__version__)},'
            f'"user":{_s(user)},"workflow":{_s(workflow)}}}'
        )

    def prepare(
        self,
        *,
        node_id: str,
        status: str,
        attempt: int,
        inputs: Sequence[RefTuple],
        outputs: Sequence[RefTuple],
        parameters: Mapping[str, ParamValue],
        started_at: str | None,
        ended_at: str | None,
        cache_key: str | None,
        error: str | None,
        record_id: str | None = None,
    ) -> Prepared:
        """The record split around ``prev_hash`` and ``seq``, as :class:`~typedflow.lineage.log.LineageLog`
        chains it; fields as :func:`~typedflow.lineage.record.new_record` fills them."""
        return self.prepare_encoded(
            node_id=node_id,
            status=status,
            attempt=attempt,
            inputs_json=refs_json(inputs),
            outputs_json=refs_json(outputs),
            parameters_json=params_json(parameters),
            started_at=started_at,
            ended_at=ended_at,
            cache_key=cache_key,
            error=error,
            record_id=record_id,
        )

    def prepare_encoded(
        self,
        *,
        node_id: str,
        status: str,
        attempt: int,
        inputs_json: str,
        outputs_json: str,
        parameters_json: str,
        started_at: str | None,
        ended_at: str | None,
        cache_key: str | None,
        error: str | None,
        record_id: str | None = None,
    ) -> Prepared:
        """:meth:`prepare` with the refs and parameters already encoded (:func:`refs_json`,
        :func:`params_json`, or the same bytes made faster by a caller that knows the task)."""
        if status not in STATUSES:
            raise ValueError(f"not a record status: {status!r}")
        if type(attempt) is not int:
            raise TypeError(f"attempt must be an int, got {type(attempt).__name__}")
        # _opt() inlined: this runs once per task execution.
        key = "null" if cache_key is None else _s(cache_key)
        ended = "null" if ended_at is None else _s(ended_at)
        err = "null" if error is None else _s(error)
        a = (
            f'{{"attempt":{_int_repr(attempt)},"cache_key":{key}{self._after_code}{ended},'
            f'"error":{err}{self._after_error}{inputs_json}{self._after_outputs}{_s(node_id)},'
            f'"outputs":{outputs_json},"parameters":{parameters_json},"prev_hash":"'
        )
        b = f"{self._version}{_s(record_id or new_record_id())}{self._run}"
        c = f',"started_at":{_s(started_at or now_rfc3339())},"status":{_s(status)}{self._tail}'
        return a, b, c

    def prepare_done(
        self,
        node_id: str,
        status: str,
        attempt: int,
        inputs_json: str,
        outputs_json: str,
        parameters_json: str,
        started_at: str,
        ended_at: str,
        cache_key: str | None,
    ) -> Prepared:
        """:meth:`prepare_encoded` for most records: an execution that did not fail (no error), with both
        timestamps and a new record id, its arguments positional."""
        if status not in _DONE:
            raise ValueError(f"not the status of an execution that did not fail: {status!r}")
        if type(attempt) is not int:
            raise TypeError(f"attempt must be an int, got {type(attempt).__name__}")
        key = "null" if cache_key is None else _s(cache_key)
        a = (
            f'{{"attempt":{_int_repr(attempt)},"cache_key":{key}{self._after_code}{_s(ended_at)},"error":null'
            f'{self._after_error}{inputs_json}{self._after_outputs}{_s(node_id)},"outputs":{outputs_json},'
            f'"parameters":{parameters_json},"prev_hash":"'
        )
        # A record id is 32 hex digits: nothing in it to escape.
        return (
            a,
            f'{self._version}"{new_record_id()}"{self._run}',
            (f',"started_at":{_s(started_at)},"status":"{status}"{self._tail}'),
        )
