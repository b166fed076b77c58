"""``run_ir``: one local run of an IR document: inputs, journal, interpreter, on_failure, lineage."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from typedflow import ir
from typedflow.errors import InputError, RunInterrupted
from typedflow.ir.codec import IR_MAX_BYTES, dumps, loads
from typedflow.ir.types import check_json
from typedflow.lineage.log import LineageIntegrityError, LineageLinkError, LineageLog
from typedflow.runtime.execute import TaskError, has_files, map_files
from typedflow.runtime.inputs import store_constant_files
from typedflow.runtime.running import RUN_ID, RunOptions, RunResult, decode_value, prepare_inputs, putter
from typedflow.runtime.store import LocalStore
from typedflow.util.boundary import BoundaryError, parse_json, read_regular
from typedflow.util.statedir import home
from typedflow.util.timestamps import utcnow

from .bindings import Env, resolve
from .importroots import import_roots, restore_import_roots
from .interpreter import Interpreter, new_run_id
from .isolation import ProcessRunner, Runner, ThreadRunner
from .journal import Journal, RunBusyError, RunLock
from .placement import Placement
from .recorder import LocalRecorder
from .reports import Listener, NodeReport, RunObserver
from .retry import Clock
from .runfiles import CANCELLED, FAILURES, STOPPED, write_failures, write_stopped
from .stopping import Stop


def run_ir(
    doc: ir.WorkflowIR,
    inputs: Mapping[str, Any],
    options: RunOptions,
    *,
    annotations: Mapping[str, Any] | None = None,
    returns_annotation: Any = None,
    encoded: bool = False,
) -> RunResult:
    if options.max_workers is not None and options.max_workers < 1:
        raise InputError(f"max_workers must be a positive integer, got {options.max_workers}")
    root = Path(options.store) if options.store else home()
    store = LocalStore(root / "store", buffered=True)
    try:
        store.check_entries()
    except BoundaryError as exc:
        raise InputError(str(exc)) from None
    opened: list[LineageLog] = []
    try:
        return _start(doc, inputs, options, root, store, opened, annotations, returns_annotation, encoded)
    finally:
        for log in opened:
            log.close()


def _open_lineage(root: Path, opened: list[LineageLog]) -> LineageLog:
    """The store's lineage log, opened before the run's folder is made (or its journal repaired): a log that
    refuses new records (see docs/lineage.md) is said at once, and leaves no half-started run behind."""
    try:
        opened.append(LineageLog(root / "lineage" / "log.jsonl"))
        return opened[-1]
    except LineageIntegrityError as exc:
        raise InputError(f"the lineage log refuses new records: {exc}") from None
    except LineageLinkError as exc:  # named: the store's root alone would not say which file
        raise InputError(f"cannot write the run's lineage: {exc}") from None
    except OSError as exc:  # a store that cannot be written: said before any task runs
        if exc.filename == str(root / "lineage" / "log.jsonl"):  # a folder or a FIFO in its place: named
            raise InputError(f"cannot write the run's lineage: {exc.filename}: {exc.strerror}") from None
        raise InputError(f"cannot write the run's state under {root}: {exc.strerror or exc}") from exc


def _start(
    doc: ir.WorkflowIR,
    inputs: Mapping[str, Any],
    options: RunOptions,
    root: Path,
    store: LocalStore,
    opened: list[LineageLog],
    annotations: Mapping[str, Any] | None,
    returns_annotation: Any,
    encoded: bool,
) -> RunResult:
    runs = root / "runs"
    resumed: dict[str, dict[str, Any]] | None = None
    lock: RunLock | None = None
    lineage: LineageLog | None = None
    if options.resume is not None:  # "" too: a run id that is empty, never a new run
        run_id = options.resume
        if RUN_ID.fullmatch(run_id) is None:
            raise InputError(f"--resume {run_id[:80]!r}: not a run id")
        journal = Journal(runs / run_id)
        try:
            if journal.dir.is_symlink():  # a resumed run writes its folder: never where a planted link points
                raise InputError(f"cannot resume run {run_id}: {journal.dir} is a symbolic link, not a run's folder")
            found = (journal.dir / "ir.json").exists()
        except OSError as exc:  # a store the OS cannot even look at (a name too long)
            raise InputError(f"cannot resume run {run_id}: {str(runs)[:200]}: {exc.strerror or exc}") from None
        if not found:
            raise InputError(f"no run {run_id!r} under {runs}")
        lock = RunLock(journal.dir)
        try:
            lock.acquire()
        except RunBusyError as exc:
            raise InputError(f"cannot resume run {run_id}: {exc}") from None
        except BoundaryError as exc:  # not a lock file there
            raise InputError(f"cannot resume run {run_id}: {exc}") from None
        except OSError as exc:
            raise InputError(f"cannot resume run {run_id}: {lock.path}: {exc.strerror or exc}") from None
        try:
            restore_import_roots(journal.dir / "meta.json")  # a retry in another process finds the tasks there
            try:
                ending = journal.ending()
                named, doc = doc, loads(read_regular(journal.dir / "ir.json", "the run's ir.json", IR_MAX_BYTES))
                if doc.workflow.name != named.workflow.name:  # it would go on with a workflow not asked for
                    raise BoundaryError(f"it is a run of {doc.workflow.name}, not of {named.workflow.name}")
                if ending is not None and ending.get("status") == "succeeded":  # nothing to do, nothing to record
                    outputs, duration = _ended(ending, doc.workflow, journal.path)
                    value = decode_value(outputs, doc.workflow, returns_annotation)
                    return RunResult(run_id, "succeeded", outputs, value, (), duration, journal.dir)
                path = journal.dir / "inputs.json"
                prepared = _resumed_inputs(
                    parse_json(read_regular(path, "the run's inputs.json"), str(path)), doc, path, store
                )
            except (BoundaryError, OSError) as exc:  # OSError: a journal that is a link (O_NOFOLLOW), unreadable
                raise InputError(f"cannot resume run {run_id}: {exc}") from None
            lineage = _open_lineage(root, opened) if options.lineage else None
            journal.repair()
            resumed = journal.finished()
            # A failed (or cancelled, or stopped) run that is resumed has not failed (yet): its status,
            # failures, cancel marker and stop are this run's.
            for name in ("status.json", FAILURES, CANCELLED, STOPPED):
                try:
                    (journal.dir / name).unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:  # a folder put in its place: said, and left alone
                    raise InputError(
                        f"cannot resume run {run_id}: {journal.dir / name} cannot be replaced: {exc.strerror or exc}"
                    ) from None
        except BaseException:
            lock.release()
            raise
    else:
        prepared = prepare_inputs(doc, inputs, annotations, store, encoded=encoded or annotations is None)
        lineage = _open_lineage(root, opened) if options.lineage else None
        run_id = new_run_id()
        try:
            meta = {
                "workflow": doc.workflow.name,
                "ir_digest": doc.digest,
                "started": utcnow(),
                "import_roots": import_roots(doc),
            }
            journal = Journal.create(runs / run_id, dumps(doc), prepared, meta)
            lock = RunLock(journal.dir)
            lock.acquire()
        except OSError as exc:  # a store that cannot be written: say so, before any task runs
            raise InputError(f"cannot write the run's state under {root}: {exc.strerror or exc}") from exc
    try:
        # Constant files of the workflow body are read by content, like inputs (the journal keeps the IR as is).
        doc = store_constant_files(doc, putter(store))
        return _run(doc, prepared, options, root, store, lineage, run_id, journal, resumed, returns_annotation)
    finally:
        lock.release()


def _run(
    doc: ir.WorkflowIR,
    prepared: dict[str, Any],
    options: RunOptions,
    root: Path,
    store: LocalStore,
    lineage: LineageLog | None,
    run_id: str,
    journal: Journal,
    resumed: dict[str, dict[str, Any]] | None,
    returns_annotation: Any,
) -> RunResult:
    if options.listener is not None:  # the run id first: a run killed now is resumed by it
        options.listener(
            NodeReport(
                run_id, doc.workflow.name, None, "run-started", reason="resumed" if options.resume is not None else ""
            )
        )
    runner: Runner = ProcessRunner(store) if options.isolation == "process" else ThreadRunner(store)
    workers = options.max_workers or max(4, (os.cpu_count() or 2) * 2)
    # Waiting for running tasks, what finished reaches the OS first (cache entries before the records
    # of their tasks), so a SIGKILL then loses none of it (as the journal's lines).
    observers: list[RunObserver] = [journal, _StoreFlush(store)]
    recorder = None
    if lineage is not None:
        recorder = LocalRecorder(root, doc, run_id, executor=options.isolation, log=lineage)
        recorder.run_started(prepared)
        observers.append(recorder)
    if options.listener is not None:
        observers.append(Listener(options.listener))
    stop = Stop(options.stop_grace)
    stop.kill = runner.kill_running
    interp = Interpreter(
        doc,
        runner=runner,
        placement=Placement(options.isolation),
        max_workers=workers,
        use_cache=options.use_cache,
        clock=options.clock or Clock(),
        resumed=resumed,
        observers=observers,
        run_id=run_id,
        live=options.listener is not None,
        stop=stop,
        run_dir=journal.dir if journal is not None else None,
    )
    t0 = time.perf_counter()
    closing: _Closing | None = None
    stop.install(options.signals)
    try:
        try:
            ok, outputs = interp.run(prepared)
            if not ok and doc.workflow.on_failure is not None:
                _run_on_failure(doc, interp, prepared)
            if not ok:
                _keep_failures(journal.dir, interp.first_failures())
        except BaseException as exc:
            try:
                runner.close()
            finally:
                closing = _Closing(store.close, journal.close)
                if isinstance(exc, RunInterrupted):
                    _keep_stop(journal.dir, exc)
            raise
        try:
            runner.close()
        finally:
            duration = time.perf_counter() - t0
            status: Literal["succeeded", "failed"] = "succeeded" if ok else "failed"
            try:
                if recorder is not None:
                    # The run's last records reach the OS before its journal says it ended: a run that
                    # ended is never resumed, so records a SIGKILL lost then would be lost for good.
                    recorder.run_finished(status, outputs)
                    recorder.write_buffered()
            finally:
                # The store's and the journal's fsyncs (the journal's last line is the run's status)
                # overlap the lineage log's: each waits on the disk, not on the GIL.
                closing = _Closing(store.close, functools.partial(journal.finish, status, duration, outputs))
        if recorder is not None:
            recorder.close()
        closing.wait()
    finally:
        stop.uninstall()
        if recorder is not None:  # records already taken are committed even if the run broke
            recorder.close()
        if closing is not None:
            closing.join()
    value = decode_value(outputs, doc.workflow, returns_annotation) if ok else None
    return RunResult(run_id, status, outputs, value, tuple(interp.reports.values()), duration, journal.dir)


class _Closing:
    """Runs closers in order on a thread, stopping at the first that raises; :meth:`wait` joins it and
    raises that."""

    def __init__(self, *closers: Callable[[], None]) -> None:
        self._closers = closers
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._close, name="typedflow-close", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        for close in self._closers:
            try:
                close()
            except BaseException as exc:  # re-raised by wait(), on the caller's thread
                self._error = exc
                return  # what follows (the status) must not be written after a failed close

    def join(self) -> None:
        self._thread.join()

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


class _StoreFlush:
    """The store's buffered cache entries reach the OS while the scheduler waits."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def node_finished(self, report: NodeReport) -> None:
        pass

    def progress(self, event: NodeReport) -> None:
        pass

    def waiting(self) -> None:
        self.store.write_buffered()


def _keep_failures(run_dir: Path, failures: list[Any]) -> None:
    """The failed nodes' errors, for ``typedflow runs show`` (a run that cannot write them still ends)."""
    try:
        write_failures(run_dir, failures)
    except OSError:
        pass


def _keep_stop(run_dir: Path, stop: RunInterrupted) -> None:
    """When the run stopped and what it abandoned, for ``typedflow runs`` (a run that cannot write it still
    stops, resumable)."""
    try:
        write_stopped(run_dir, stop.signal, stop.abandoned)
    except OSError:
        pass


def _run_on_failure(doc: ir.WorkflowIR, interp: Interpreter, inputs: dict[str, Any]) -> None:
    of = doc.workflow.on_failure
    assert of is not None
    env = Env(inputs, failure=interp.failure_of())
    args = {a.param: resolve(a.value, env) for a in of.args}
    template = doc.task(of.task)
    key = f"on_failure/{of.task}"
    # With its own retry policy, like any task; never cached: every failure is handled anew.
    try:
        outcome, attempts = interp.attempts(template, args, key, use_cache=False)
    except Exception as exc:  # the runner itself broke: report it as the handler's failure
        outcome, attempts = TaskError(type(exc).__name__, str(exc)), 1
    interp.report_handler(of, key, args, outcome, attempts)


def _ended(ending: dict[str, Any], wf: ir.Workflow, path: Path) -> tuple[dict[str, Any], float]:
    """The outputs and duration of a run's end line, checked against the workflow's declared outputs (a
    damaged or forged journal is not printed as the run's result)."""
    outputs, duration = ending.get("outputs"), ending.get("duration")
    if not isinstance(outputs, dict) or outputs.keys() != {p.name for p in wf.outputs}:
        raise BoundaryError(f"{path}: its end line does not hold the workflow's outputs")
    for p in wf.outputs:
        problem = check_json(outputs[p.name], p.type, f"output {p.name!r}")
        if problem:
            raise BoundaryError(f"{path}: its end line holds {problem}")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 <= duration < float("inf"):
        raise BoundaryError(f"{path}: its end line's duration is not a number of seconds: {duration!r}"[:300])
    return outputs, float(duration)


def _resumed_inputs(inputs: Any, doc: ir.WorkflowIR, path: Path, store: LocalStore) -> dict[str, Any]:
    """The inputs a run started with, checked again against the workflow's types (the file may have been edited),
    and its file inputs still in the store (one deleted since is said now, not by the task that reads it)."""
    if not isinstance(inputs, dict):
        raise BoundaryError(f"{path}: not a JSON object of inputs")
    declared = {p.name: p for p in doc.workflow.inputs}
    for name, value in inputs.items():
        param = declared.get(name)
        if param is None:
            raise BoundaryError(f"{path}: the workflow has no input {name[:80]!r}")
        problem = check_json(value, param.type, f"input {name!r}")
        if problem:
            raise BoundaryError(f"{path}: {problem}")
        if has_files(param.type):
            map_files(value, param.type, functools.partial(_still_stored, store, name))
    return inputs


def _still_stored(store: LocalStore, name: str, v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
    uri, is_dir = v.get("uri"), t.kind == "directory"
    try:
        store.locate(str(uri), v.get("sha256"), is_dir)
    except BoundaryError:  # not this store's content: the task's own checks say so, as in a new run
        return v
    if not os.path.lexists(str(uri).removeprefix("file://")):
        kind = "folder" if is_dir else "file"
        raise BoundaryError(
            f"input {name!r}: its stored {kind} {uri} is gone from the store (deleted since the run started); "
            "run the workflow anew with it"
        )
    return v
