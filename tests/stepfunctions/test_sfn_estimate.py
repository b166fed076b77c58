"""A workflow whose task states alone are past Step Functions' limits is split without being compiled whole
first: its task states are a lower bound of the states and history events of its single definition (every
construct, every executor), and the estimate of the whole that chooses its split is close to the measure."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typedflow.backends.stepfunctions import compiler
from typedflow.backends.stepfunctions.analysis import decompose
from typedflow.backends.stepfunctions.compiler import compile_machines
from typedflow.backends.stepfunctions.graph import DefinitionError
from typedflow.backends.stepfunctions.limits import count_states, estimate_events, measure, size
from typedflow.backends.stepfunctions.options import EXECUTORS, Options
from typedflow.backends.stepfunctions.outline import Sizes, past_limits

from tests.conftest import import_source
from tests.support import construct_flows, failure_flows, semantics_flows
from tests.support.shapes import chain_source, fan_source, nested_source
from typedflow import ir
from typedflow.ir import WorkflowIR

_EXECUTOR_OPTIONS: dict[str, dict[str, Any]] = {
    "sqs": {},
    "lambda": {"lambda_function": "fn"},
    "ecs": {"ecs_cluster": "c", "ecs_task_definition": "td", "subnets": ("s",)},
    "batch": {"batch_job_queue": "q", "batch_job_definition": "jd"},
}


def _plan(doc: WorkflowIR) -> Any:
    return decompose(doc.workflow.nodes)


def _options(executor: str, **kw: Any) -> Options:
    return Options(executor=executor, bucket="s3://b/p", **_EXECUTOR_OPTIONS[executor], **kw)


def _workflows(*modules: ModuleType) -> list[tuple[str, WorkflowIR]]:
    found = []
    for m in modules:
        for name, v in sorted(vars(m).items()):
            doc = getattr(v, "ir", None)
            if isinstance(doc, WorkflowIR):
                found.append((f"{m.__name__.rsplit('.', 1)[-1]}.{name}", doc))
    return found


_CORPUS = _workflows(construct_flows, failure_flows, semantics_flows)


def test_the_corpus_has_every_construct() -> None:
    workflows = [w for _, doc in _CORPUS for w in (doc.workflow, *doc.subworkflows)]
    kinds = {type(n).__name__ for w in workflows for n in ir.walk(w.nodes)}
    assert {"TaskNode", "ConditionalNode", "MapNode", "SubWorkflowNode", "ExitHandlerNode", "FailNode"} <= kinds
    assert any(w.on_failure is not None for w in workflows)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_task_states_are_a_lower_bound_of_the_single_definition(executor: str) -> None:
    checked = 0
    for label, doc in _CORPUS:
        for map_size in (0, 3):
            opts = _options(executor, map_size=map_size)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    definition = compiler._Compiler(compiler.constant_files(doc, opts), opts).compile()
            except DefinitionError:
                continue  # a construct this target refuses (checked elsewhere)
            tasks = Sizes(doc, opts).workflow_tasks(doc.workflow)
            assert 0 < tasks.states <= count_states(definition), label
            assert tasks.events <= estimate_events(definition, map_size), label
            checked += 1
    assert checked > 20


def test_small_workflows_are_compiled_whole(tmp_path: Path) -> None:
    doc = import_source(tmp_path, chain_source(120)).chain.ir
    assert past_limits(doc, Options(), _plan(doc)) is None
    assert past_limits(doc, Options(max_states=200), _plan(doc)) is None
    over = past_limits(doc, Options(max_states=100), _plan(doc))  # 120 task states cannot be in 100
    assert over is not None and over.states >= 120


@pytest.mark.parametrize("shape", ["chain", "fan"])
def test_the_estimate_of_a_workflow_past_the_history_quota_is_close(tmp_path: Path, shape: str) -> None:
    module = import_source(tmp_path, chain_source(4300) if shape == "chain" else fan_source(2200))
    doc = getattr(module, shape).ir
    opts = Options()
    estimate = past_limits(doc, opts, _plan(doc))
    assert estimate is not None  # 6 events per task: over 25,000 past 4,166 tasks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = measure(compiler._Compiler(doc, opts).compile(), opts)
    assert single.events > 25_000
    assert abs(estimate.states - single.states) <= 0.05 * single.states
    assert abs(estimate.events - single.events) <= 0.05 * single.events
    assert abs(estimate.bytes - single.bytes) <= 0.25 * single.bytes


def test_a_workflow_past_the_limits_is_compiled_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = import_source(tmp_path, chain_source(4300)).chain.ir
    budgets: list[int | None] = []
    real = compiler._Compiler.compile

    def spy(self: compiler._Compiler) -> Any:
        budgets.append(self.budget)
        return real(self)

    monkeypatch.setattr(compiler._Compiler, "compile", spy)
    machines = compile_machines(doc, Options())
    assert budgets and None not in budgets  # never compiled whole
    assert len(budgets) == 1  # the estimate chose a split whose machines fit
    assert len(machines) > 2
    for _, d in machines:
        assert size(d) <= 1_048_576 and estimate_events(d, 100) + 2 <= 25_000


def test_with_max_states_the_split_is_the_one_compiling_whole_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``--max-states`` the budget is the option's: skipping the whole compile changes nothing."""
    doc = import_source(tmp_path, nested_source(["when", "map", "sub"] * 4)).nested.ir
    tasks = Sizes(doc, Options()).workflow_tasks(doc.workflow).states
    opts = Options(max_states=tasks - 1, map_size=2)
    assert opts.max_states is not None and opts.max_states >= 16
    assert past_limits(doc, opts, _plan(doc)) is not None
    skipped = compile_machines(doc, opts)
    assert len(skipped) > 1
    monkeypatch.setattr(compiler, "past_limits", lambda doc, opts, plan: None)
    assert compile_machines(doc, opts) == skipped
