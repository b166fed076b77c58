"""Flyte's chained entities (flytesnacks ``advanced_composition/chain_entities.py``): order without data.

``t0() >> t1()`` orders two tasks that pass nothing to each other; here it is ``with after(x):``
around what must wait for the task (or sub-workflow) that returned ``x``, even one that returns
None. The tasks print in the original; here each also writes which of the others had already run
into ``log``, so the order is observable (``cache=False``: they have an effect outside the store).
"""

from __future__ import annotations

from pathlib import Path

from typedflow import after, task, workflow


def _mark(log: str, name: str) -> None:
    seen = sorted(p.name for p in Path(log).iterdir())
    Path(log, name).write_text(",".join(seen), encoding="utf-8")


@task(cache=False)
def t0(log: str) -> None:
    print("Running t0")
    _mark(log, "t0")


@task(cache=False)
def t1(log: str) -> None:
    print("Running t1")
    _mark(log, "t1")


@task(cache=False)
def t2(log: str) -> None:
    print("Running t2")
    _mark(log, "t2")


@workflow
def chain_tasks_wf(log: str) -> None:
    first = t0(log)
    with after(first):
        second = t1(log)
    with after(second):
        t2(log)


@workflow
def sub_workflow_1(log: str) -> None:
    t1(log)


@workflow
def sub_workflow_0(log: str) -> None:
    t0(log)


@workflow
def chain_workflows_wf(log: str) -> None:
    first = sub_workflow_0(log)
    with after(first):
        sub_workflow_1(log)


def reference_chain_tasks(log: str) -> None:
    """Python runs the calls in the order ``>>`` asks for."""
    for name in ("t0", "t1", "t2"):
        _mark(log, name)


def reference_chain_workflows(log: str) -> None:
    for name in ("t0", "t1"):
        _mark(log, name)
