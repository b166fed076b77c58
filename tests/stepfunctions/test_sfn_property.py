"""Property: random typed workflows compile to definitions that asl-validator accepts and that run
in moto's Step Functions engine to the local interpreter's outputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stepfunctions.conftest import Aws, run_local
from tests.stepfunctions.sfn_dags import load, source, steps


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(program=steps(), x=st.integers(-20, 60))
def test_random_workflows_match_local(
    aws: Aws, tmp_path_factory: pytest.TempPathFactory, program: list[tuple[Any, ...]], x: int
) -> None:
    tmp = tmp_path_factory.mktemp("dag")
    module = load(tmp, source(program))
    local = run_local(module.wf, {"x": x}, tmp)
    assert local.ok
    remote = aws.run(module.wf.ir, {"x": x})
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause, source(program))
    assert remote.outputs == local.outputs, source(program)
