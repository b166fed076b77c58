"""The run journal: what a run needs to be resumed after a crash.

``runs/<run_id>/`` holds the IR, the inputs, and ``journal.jsonl`` with one line per finished node
instance. Lines are written and flushed as nodes finish (a SIGKILL loses nothing the OS has), and
fsynced at the end of the run.
"""

from __future__ import annotations

import json
import os
import threading
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from typedflow.canonical import canonical_json
from typedflow.runtime.atomic import write_text


class Journal:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.path = run_dir / "journal.jsonl"
        self._fd = -1
        self._early: threading.Thread | None = None  # fsyncs the files written at creation
        self._early_error: OSError | None = None

    @staticmethod
    def create(run_dir: Path, ir_text: str, inputs: dict[str, Any], meta: dict[str, Any]) -> Journal:
        run_dir.mkdir(parents=True, exist_ok=False)
        # A SIGKILL loses nothing the OS already has; these are fsynced when the run closes.
        write_text(run_dir / "ir.json", ir_text, durable=False)
        write_text(run_dir / "inputs.json", canonical_json(inputs), durable=False)
        write_text(run_dir / "meta.json", canonical_json(meta), durable=False)
        journal = Journal(run_dir)
        # Their fsyncs overlap the run instead of delaying its first task (close() waits for them).
        journal._early = threading.Thread(target=journal._sync_created, name="typedflow-journal-sync", daemon=True)
        journal._early.start()
        return journal

    def _sync_created(self) -> None:
        try:
            self._fsync_files()
        except OSError as exc:
            self._early_error = exc

    def finished(self) -> dict[str, dict[str, Any]]:
        """Finished node instances by key; a torn last line (crash mid-write) is ignored."""
        done: dict[str, dict[str, Any]] = {}
        try:
            with open(self.path, "rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        break
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break
                    done[entry["key"]] = entry
        except FileNotFoundError:
            pass
        return done

    def repair(self) -> None:
        """Cut a torn trailing line so appends start on a line boundary."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)

    def record(self, key: str, outputs: dict[str, Any], status: str, outputs_json: str | None = None) -> None:
        """``outputs_json``: ``canonical_json(outputs)``, when the caller has it."""
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # One write per line, straight to the OS: a SIGKILL right after loses nothing.
        # canonical_json({"key": key, "outputs": outputs, "status": status}), without building the dict
        enc = encode_basestring_ascii
        encoded = canonical_json(outputs) if outputs_json is None else outputs_json
        line = f'{{"key":{enc(key)},"outputs":{encoded},"status":{enc(status)}}}\n'
        os.write(self._fd, line.encode("ascii"))

    def write_status(self, status: str, summary: dict[str, Any]) -> None:
        write_text(self.dir / "status.json", canonical_json({"status": status, **summary}))

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._early is None:
            self._fsync_files()  # a resumed run: its first run may have been killed before they were durable
            return
        self._early.join()
        if self._early_error is not None:
            raise self._early_error

    def _fsync_files(self) -> None:
        for name in ("ir.json", "inputs.json", "meta.json"):
            try:
                fd = os.open(self.dir / name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
