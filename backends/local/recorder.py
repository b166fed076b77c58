"""The lineage records of a local run, written to the local hash-chained log a group at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.lineage.encoding import Prepared
from typedflow.lineage.log import LineageLog
from typedflow.lineage.record import LineageRecord, RecordStatus, new_record, safe_parameters
from typedflow.runtime.recording import RecordValues, TaskRecords, value_refs
from typedflow.util.timestamps import utcnow

from .reports import CACHED, FAILED, SKIPPED, SUCCEEDED, NodeReport

_RECORDED = frozenset({SUCCEEDED, CACHED, FAILED, SKIPPED})
ERROR_LIMIT = 2000  # characters of a failure's "type: message" a record keeps


class LocalRecorder:
    """Writes the records of a local run (group commit). Called from the scheduler's one thread:
    reports are gathered here and encoded and handed to the log a group at a time (the log takes a
    lock per call; encoding a group in one loop keeps the encoder's code and constants in the CPU's
    caches, which costs about a third less than encoding each report among the scheduler's work)."""

    def __init__(
        self, root: Path, doc: ir.WorkflowIR, run_id: str, executor: str, log: LineageLog | None = None
    ) -> None:
        # The log's fdatasync runs on its sync thread (holding no GIL while it waits); close() waits
        # until all is durable. ``log``: the store's log, when the caller opened it already.
        self.log = log if log is not None else LineageLog(root / "lineage" / "log.jsonl")
        self.doc = doc
        self.run_id = run_id
        self.executor = executor
        self.tasks = {t.name: t for t in doc.tasks}
        self.encodings: dict[str, TaskRecords] = {}
        self.started = ""
        # Reports to record, each with its start time and values as taken when it arrived.
        self._group: list[tuple[NodeReport, str, RecordValues]] = []

    def _run_record(
        self, status: RecordStatus, values: dict[str, Any], params: tuple[ir.Param, ...], ended: bool
    ) -> LineageRecord:
        rec = new_record(
            "run_end" if ended else "run_start",
            run_id=self.run_id,
            workflow=self.doc.workflow.name,
            ir_digest=self.doc.digest,
            target="local",
            executor=self.executor,
            status=status,
            started_at=self.started or None,
            ended_at=utcnow() if ended else None,
            inputs=() if ended else value_refs(values, params),
            outputs=value_refs(values, params) if ended else (),
            parameters=safe_parameters(values) if not ended else {},
        )
        if not ended:
            self.started = rec.started_at
        return rec

    def run_started(self, inputs: dict[str, Any]) -> None:
        self.log.append(self._run_record("started", inputs, self.doc.workflow.inputs, False))

    def _encoding(self, name: str) -> TaskRecords:
        enc = self.encodings[name] = TaskRecords(
            doc_name=self.doc.workflow.name,
            ir_digest=self.doc.digest,
            run_id=self.run_id,
            target="local",
            executor=self.executor,
            template=self.tasks[name],
            log_origin=self.log.origin,
        )
        return enc

    # As a run observer (see .reports.RunObserver).
    def node_finished(self, rep: NodeReport) -> None:
        """Take a task's final report (other nodes' are not records)."""
        if rep.status not in _RECORDED or rep.task is None:
            return
        enc = self.encodings.get(rep.task) or self._encoding(rep.task)
        # A report without a start time (a skipped task) is recorded as starting now, not at the hand-over.
        self._group.append((rep, rep.started_at or utcnow(), enc.values(rep.inputs, rep.outputs, rep.input_digests)))
        if len(self._group) >= self.log.flush_every:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._group:
            prepared = [self._prepare(*taken) for taken in self._group]
            self._group = []
            self.log.append_prepared(*prepared)

    def _prepare(self, rep: NodeReport, started_at: str, values: RecordValues) -> Prepared:
        assert rep.task is not None
        failed = rep.status == FAILED
        return self.encodings[rep.task].prepare(
            node_id=rep.key,
            status=rep.status,
            attempt=rep.attempts,
            values=values,
            started_at=started_at,
            ended_at=rep.ended_at or None,
            cache_key=rep.cache_key,
            error=f"{rep.error_type}: {rep.message}"[:ERROR_LIMIT] if failed else None,
        )

    def progress(self, event: NodeReport) -> None:
        pass

    def waiting(self) -> None:
        """While the scheduler waits, the records taken so far reach the OS: a SIGKILL then loses none."""
        self.write_buffered()

    def write_buffered(self) -> None:
        """Hand the records taken so far to the OS (see :meth:`LineageLog.write_buffered`)."""
        self._hand_over()
        self.log.write_buffered()

    def run_finished(self, status: RecordStatus, outputs: dict[str, Any]) -> None:
        self._hand_over()
        self.log.append(self._run_record(status, outputs, self.doc.workflow.outputs, True))

    def close(self) -> None:
        try:
            self._hand_over()
        finally:
            self.log.close()
