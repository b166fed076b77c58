"""What a task writes reaches the terminal (a progress view, a cloud log) with its secret values blanked
out, as the copy typedflow keeps does: a value split across writes, on stdout or stderr, in a line left
unfinished when the task ends."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from pathlib import Path

import pytest

from typedflow import Secret, task, workflow
from typedflow.cli import main
from typedflow.runtime.capture import HELD, _Tee, release
from typedflow.runtime.context import ATTEMPT, Attempt

VALUE = "hunter2-is-the-word"


def test_lines_with_a_secret_are_blanked_out_as_they_are_written() -> None:
    target = io.StringIO()
    tee = _Tee(target, None)
    attempt = Attempt(None, "t-", None)
    token = ATTEMPT.set(attempt)
    try:
        tee.write("before any secret, unfinished ")
        assert target.getvalue() == "before any secret, unfinished "  # nothing to hide yet: written at once
        attempt.revealed.append(VALUE)
        tee.write("line\nthe value is hunter2-")
        tee.write("is-the-word and more\n")
        tee.write("left unfinished: " + VALUE)
        assert VALUE not in target.getvalue() and "left unfinished" not in target.getvalue()
    finally:
        ATTEMPT.reset(token)
    release(attempt)
    assert target.getvalue() == ("before any secret, unfinished line\nthe value is *** and more\nleft unfinished: ***")
    assert attempt.held is None
    tee.write("outside any attempt: " + VALUE + "\n")  # not a task's output: passed through as it is
    assert target.getvalue().endswith(VALUE + "\n")


_LOG = logging.getLogger("tests.security.live_output")


@task
def logs_it(token: Secret) -> int:
    _LOG.warning("using %s", token.reveal())
    return 1


@workflow
def logging_flow(token: Secret) -> int:
    return logs_it(token)


def test_what_a_task_logs_through_an_earlier_handler_is_kept_and_masked(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler made before the run (``logging.basicConfig()`` as the workflow's module is imported)
    holds the stream of that time: it is retargeted through the capture when the capture is installed."""
    monkeypatch.setenv("LIVE_OUTPUT_TOKEN", VALUE)
    handler = logging.StreamHandler(sys.stderr)
    _LOG.addHandler(handler)
    _LOG.propagate = False
    try:
        args = ["run", f"{__name__}:logging_flow", "--store", str(tmp_path / "s"), "--log-format", "plain"]
        assert main([*args, "--input", "token=env:LIVE_OUTPUT_TOKEN"]) == 0
    finally:
        _LOG.removeHandler(handler)
        _LOG.propagate = True
    out, err = capfd.readouterr()
    assert VALUE not in out + err and "using ***" in err
    (log,) = list((tmp_path / "s" / "runs").glob("*/logs/*/1.log"))
    assert log.read_text() == "using ***\n"


def test_progress_bars_redraw_and_long_unfinished_lines_flow_without_their_secrets() -> None:
    target = io.StringIO()
    tee = _Tee(target, None)
    attempt = Attempt(None, "t-", None)
    attempt.revealed.append(VALUE)
    token = ATTEMPT.set(attempt)
    try:
        for pct in (10, 50):  # a bar redrawn with carriage returns is shown as it is drawn
            tee.write(f"\r{pct}% {VALUE}")
        assert target.getvalue() == "\r10% ***\r"
        # A line that never ends is passed on as it grows, a secret split across any two writes blanked out.
        endless = ("x" * 997 + VALUE) * (3 * HELD // 997)
        for i in range(0, len(endless), 7):
            tee.write(endless[i : i + 7])
            assert VALUE[:5] not in target.getvalue()
        assert len(target.getvalue()) > HELD
    finally:
        ATTEMPT.reset(token)
    release(attempt)
    assert target.getvalue() == "\r10% ***\r50% ***" + endless.replace(VALUE, "***")
    assert attempt.held is None


@task
def announce(token: Secret, password: str) -> int:
    value = token.reveal()
    print("connecting with", value[:7], end="")
    print(value[7:])
    sys.stderr.write(f"password {password} and {value}")  # no newline: ended by the attempt's end
    return len(value)


@workflow
def announcing(token: Secret, password: str) -> int:
    return announce(token, password)


@pytest.mark.parametrize(("fmt", "isolation"), [("plain", "thread"), ("json", "thread"), ("plain", "process")])
def test_a_run_shows_what_its_task_prints_without_its_secrets(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str, isolation: str
) -> None:
    monkeypatch.setenv("LIVE_OUTPUT_TOKEN", VALUE)
    args = ["run", f"{__name__}:announcing", "--store", str(tmp_path / "s"), "--log-format", fmt]
    args += ["--isolation", isolation]
    assert main([*args, "--input", "token=env:LIVE_OUTPUT_TOKEN", "--input", "password=open-sesame"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out.splitlines()[-1]) == len(VALUE)
    shown = out + err
    assert VALUE not in shown and "open-sesame" not in shown
    assert "connecting with ***" in shown and "password *** and ***" in shown
    runs = tmp_path / "s" / "runs"
    (log,) = list(runs.glob("*/logs/*/1.log"))
    assert log.read_text() == "connecting with ***\npassword *** and ***"
    assert os.environ["LIVE_OUTPUT_TOKEN"] == VALUE
