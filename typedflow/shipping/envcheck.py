"""Whether this process's environment has what a workflow's declared environments need.

A self-hosted worker runs tasks in its own environment. At start it checks the environments of the
workflows deployed to its store and lists what is missing; before a task runs, its environment is
checked again, and a task whose environment this worker cannot provide fails with a message that names
the missing packages instead of an ImportError deep in the task.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import metadata

from typedflow import ir


@cache
def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@cache
def missing(spec: ir.EnvironmentSpec) -> list[str]:
    """What this process lacks of ``spec``: a package not installed, or installed in a version outside
    its range, or another Python."""
    from packaging.requirements import Requirement

    out: list[str] = []
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if spec.python and spec.python != here:
        out.append(f"Python {spec.python} (this is {here})")
    for text in spec.packages:
        req = Requirement(text)
        version = _installed(req.name)
        if version is None:
            out.append(f"{text} (not installed)")
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{text} ({version} installed)")
    return out


def environments(doc: ir.WorkflowIR) -> list[tuple[ir.EnvironmentSpec, list[str]]]:
    """Each declared environment of ``doc`` with the tasks that run in it."""
    found: dict[ir.EnvironmentSpec, list[str]] = {}
    for t in sorted(doc.tasks, key=lambda t: t.name):
        spec = t.environment or doc.workflow.environment
        if spec is not None:
            found.setdefault(spec, []).append(t.name)
    return list(found.items())


def task_missing(doc: ir.WorkflowIR, task: str) -> list[str]:
    template = doc.task(task)
    spec = template.environment or doc.workflow.environment
    return list(missing(spec)) if spec is not None else []


def report(docs: list[ir.WorkflowIR]) -> list[str]:
    """Lines for a worker's start: what each workflow's environments miss here (none when all is there)."""
    lines = []
    for doc in docs:
        for spec, tasks in environments(doc):
            lacking = missing(spec)
            if lacking:
                lines.append(
                    f"workflow {doc.workflow.name} ({doc.digest[:19]}), tasks {', '.join(tasks)}: this worker lacks "
                    + "; ".join(lacking)
                )
    return lines


__all__ = ["environments", "missing", "report", "task_missing"]
