"""The live view of `typedflow run` on a real terminal: what runs now, retries, the slowest tasks
and where the outputs went."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from tests.ux.terminal import Terminal, plain

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminals as on Linux")


def test_live_view_names_running_tasks_retries_slowest_and_output_places(tmp_path: Path) -> None:
    store, folder = tmp_path / "store", tmp_path / "copies"
    term = Terminal(
        [
            *("run", "tests.ux.flows:report", "--input", "rows=3", "--input", f"folder={folder}"),
            *("--input", "seconds=1.6", "--store", str(store)),
        ],
        {"TF_UX_MARKS": str(tmp_path / "marks")},
        columns=200,
    )
    try:
        code, out, _ = term.finish()
    finally:
        term.kill()
    raw = term.text
    screen = plain(raw)
    assert code == 0, screen
    outputs = json.loads(out)
    assert "\x1b[K" in raw  # a live view: one status line redrawn in place
    # the task running now, by name, with how long it has run: the view ticks while nothing finishes
    ages = [float(a) for a in re.findall(r"> slow_table (\d+\.\d)s", screen)]
    assert len(set(ages)) >= 3 and max(ages) >= 1.0, screen
    # a retry scrolls above the status line, and the task shows its attempt while it is retried
    assert (
        "   retry  shaky: attempt 1 of 3 failed (tests.ux.flows.Flaky: first attempt for 3); attempt 2 follows\n"
        in screen
    )
    assert re.search(r"shaky \d+\.\ds \(attempt 2/3\)", screen), screen
    # the end: status, the slowest tasks, and where the outputs are
    lines = screen.splitlines()
    end = next(i for i, line in enumerate(lines) if re.match(r"run \S+: SUCCEEDED in ", line))
    assert re.fullmatch(r"slowest: slow_table 1\.\d\ds(, \w+ \d+\.\d\ds)*", lines[end + 1]), lines[end + 1]
    table = outputs["table"]["uri"]
    assert table.startswith(str(store / "store")) and Path(table).read_text() == "a\n0\n1\n2\n"
    assert lines[end + 2 :] == [f"output table: {table}", f"output copy: {folder / 'table.csv'}"]
    assert outputs["copy"] == str(folder / "table.csv") and outputs["checked"] == 3


def test_plain_and_json_progress_carry_retries_slowest_and_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.ux import flows
    from typedflow.cli.progress import make_progress
    from typedflow.runtime.running import RunOptions, run_workflow

    # places show as typed from the working directory (relative when under it): work from a
    # directory the run's files are not under, so they show absolute whatever cwd pytest has
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    for fmt in ("plain", "json"):
        stream = io.StringIO()
        progress = make_progress(fmt, stream)
        marks = flows.MARKS
        flows.MARKS = tmp_path / f"marks-{fmt}"
        try:
            result = run_workflow(
                flows.report,
                {"rows": 2, "folder": str(tmp_path / fmt), "seconds": 0.3},
                RunOptions(store=tmp_path / f"s-{fmt}", listener=progress.listener),
            )
        finally:
            flows.MARKS = marks
        progress.finish(result, flows.report.ir)
        text = stream.getvalue()
        table = result.outputs["table"]["uri"]
        if fmt == "plain":
            assert "   retry  shaky: attempt 1 of 3 failed (tests.ux.flows.Flaky: first attempt for 2)" in text
            assert re.search(r"\nslowest: slow_table 0\.\d\ds(, \w+ \d+\.\d\ds)*\n", text), text
            assert text.endswith(f"output table: {table}\noutput copy: {tmp_path / fmt / 'table.csv'}\n")
        else:
            events = [json.loads(line) for line in text.splitlines()]
            retry = next(e for e in events if e["event"] == "retry")
            assert retry == {
                "event": "retry",
                "key": "shaky",
                "task": "shaky",
                "attempt": 1,
                "attempts": 3,
                "error": "tests.ux.flows.Flaky",
                "message": "first attempt for 2",
            }
            assert events[-1]["slowest"][0]["key"] == "slow_table"
            assert events[-1]["places"] == {"table": table, "copy": str(tmp_path / fmt / "table.csv")}
