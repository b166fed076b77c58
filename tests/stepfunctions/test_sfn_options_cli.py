"""Step Functions target options given on the command line: a bad value is a usage error naming the option
(exit 2, one line), never a traceback; and an ECS task's heartbeat stays under its timeout with the start
seconds added to both."""

from __future__ import annotations

from pathlib import Path

import pytest
from typedflow.backends.stepfunctions.executors import _timeouts

from typedflow.cli import main
from typedflow.ir import TaskTemplate

FLOW = str(Path(__file__).parents[1] / "support" / "construct_flows.py") + ":unpacked"
ECS = ["--executor", "ecs", "--ecs-cluster", "c", "--ecs-task-definition", "t", "--subnet", "s"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ([*ECS, "--ecs-start-seconds", "-5"], "--ecs-start-seconds"),
        ([*ECS, "--ecs-start-seconds", "86401"], "--ecs-start-seconds"),
        (["--bucket", "my-bucket"], "--bucket"),
        (["--offload-threshold", "300000"], "--offload-threshold"),
        (["--offload-threshold", "0"], "--offload-threshold"),
        (["--heartbeat-seconds", "0"], "--heartbeat-seconds"),
        (["--task-executor", "stats"], "--task-executor"),
    ],
)
def test_a_bad_option_is_a_usage_error(
    flags: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "wf.asl.json"
    assert main(["compile", FLOW, "--target", "stepfunctions", *flags, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("start", [0, 1, 600, 86_400])
@pytest.mark.parametrize("timeout", [None, 0.5, 1, 59, 60, 61, 3600])
def test_the_heartbeat_stays_under_the_timeout(start: int, timeout: float | None) -> None:
    import attrs

    template = attrs.evolve(_template(), timeout=timeout)
    t, h = _timeouts(template, 60, start)
    if t is not None and h is not None:
        assert 0 < h < t
    if timeout is None:
        assert (t, h) == (None, 60 + start)


def _template() -> TaskTemplate:
    from tests.support.construct_flows import unpacked

    return unpacked.ir.tasks[0]
