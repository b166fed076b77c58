"""sys.exit() in a task fails that task the same way with threads and with worker processes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from tests.support import semantics_flows as flows
from typedflow.runtime.running import RunOptions, run_workflow


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_sys_exit_is_the_same_failure_everywhere(tmp_path: Path, isolation: Literal["thread", "process"]) -> None:
    r = run_workflow(flows.exits, {"code": 3}, RunOptions(store=tmp_path, isolation=isolation))
    (failure,) = r.failures
    assert (failure.error_type, failure.message) == ("SystemExit", "the task called sys.exit(3)")
