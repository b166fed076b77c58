"""Test-only adapter: lets kfp.local's SubprocessRunner run our container executors on the host.

kfp.local refuses container components and only registers artifacts a Python component wrote;
the Vertex launcher creates output directories and registers every declared output artifact, so
this adapter does the same. kfp.local also casts every NUMBER_INTEGER output with ``int()``, which
fails on a null (a workflow result ``int | None`` whose branch did not run): nulls stay null here.
And kfp.local hands a nested DAG (a sub-workflow, a branch, an exit_handler block) its artifact
inputs only when it has parameter inputs too: here it always gets them, as on Vertex.
It is installed once per test session and never by project code.
"""

from __future__ import annotations

import builtins
import logging
import os
import sys
from pathlib import Path
from typing import Any

_INSTALLED = [False]


def install() -> None:
    if _INSTALLED[0]:
        return
    from kfp.local import executor_input_utils as eiu
    from kfp.local import executor_output_utils as eou
    from kfp.local import subprocess_task_handler as sth

    sth.SubprocessTaskHandler.validate_not_container_component = lambda self, cmd: None
    sth.SubprocessTaskHandler.validate_not_containerized_python_component = lambda self, cmd: None
    orig = eiu.construct_executor_input

    def construct_executor_input(*a: Any, **kw: Any) -> Any:
        ei = orig(*a, **kw)
        for p in ei.outputs.parameters.values():
            os.makedirs(os.path.dirname(p.output_file), exist_ok=True)
        for al in ei.outputs.artifacts.values():
            for art in al.artifacts:
                os.makedirs(os.path.dirname(art.uri), exist_ok=True)
        return ei

    eiu.construct_executor_input = construct_executor_input

    def get_outputs_for_task(executor_input: Any, component_spec: Any) -> Any:
        out = eou.load_executor_output(executor_input.outputs.output_file)
        for key, al in executor_input.outputs.artifacts.items():
            if key not in out.artifacts:
                out.artifacts[key].CopyFrom(al)
        return eou.get_outputs_from_executor_output(out, executor_input, component_spec)

    eou.get_outputs_for_task = get_outputs_for_task
    cast = eou.cast_protobuf_numbers

    def cast_protobuf_numbers(params: dict[str, Any], types: Any) -> Any:
        # kfp.local int()s every NUMBER_INTEGER output, which fails on a null one (a workflow result
        # `int | None` whose branch did not run); keep it null (Vertex itself is unverified here)
        nulls = {k for k, v in params.items() if v is None}
        done = cast({k: v for k, v in params.items() if k not in nulls}, types)
        return {**done, **dict.fromkeys(nulls)}

    eou.cast_protobuf_numbers = cast_protobuf_numbers
    _pass_artifacts_to_nested_dags()
    _INSTALLED[0] = True


def _pass_artifacts_to_nested_dags() -> None:
    from kfp.local.orchestrator import task_spec_utils as tsu
    from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils
    from kfp.pipeline_spec import pipeline_spec_pb2

    orig = tsu.build_nested_dag_arguments

    def build_nested_dag_arguments(task_name: str, task_spec: Any, component_spec: Any, io_store: Any) -> Any:
        args = orig(task_name=task_name, task_spec=task_spec, component_spec=component_spec, io_store=io_store)
        for name in task_spec.inputs.artifacts:
            if name not in args:  # (kfp.local skips a DAG's artifact inputs when it has no parameter inputs)
                one = pipeline_spec_pb2.TaskInputsSpec()
                one.artifacts[name].CopyFrom(task_spec.inputs.artifacts[name])
                args.update(OrchestratorUtils.make_task_arguments(one, io_store))
        return args

    tsu.build_nested_dag_arguments = build_nested_dag_arguments


class _Grab(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_spec(path: Path, params: dict[str, Any], root: Path) -> tuple[dict[str, Any], list[str]]:
    """Load the compiled file with kfp, run it under kfp.local; (outputs, kfp.local warnings)."""
    from kfp import components, local

    install()
    comp = components.load_component_from_file(str(path))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    grab = _Grab()
    logging.getLogger().addHandler(grab)
    so, se, bp = sys.stdout, sys.stderr, builtins.print  # kfp.local patches print while it runs
    try:
        task = comp(**params)
    finally:
        sys.stdout, sys.stderr, builtins.print = so, se, bp
        logging.getLogger().removeHandler(grab)
    outs = dict(task.outputs or {}) if hasattr(task, "outputs") else {}
    if not outs and getattr(task, "output", None) is not None:
        outs = {"Output": task.output}
    return outs, grab.messages
