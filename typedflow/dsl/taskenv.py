"""A task's own environment variables and secrets: ``@task(env={...}, secrets=[...])``.

``env`` is plain configuration (kept in the IR). Each item of ``secrets`` is ``"NAME=REFERENCE"``: the
reference (``aws-sm:prod/db#password``, ``gcp-sm:hf-token``, ``env:TOKEN``, ``dotenv:TOKEN``,
``file:/run/secrets/x``) is what the IR, compiled definitions and records hold; the runtime resolves it
when the task starts and sets ``NAME`` to the value while the task runs.

Environment variables belong to a process, and tasks of one process run on threads: a task's variables
are set for as long as it runs, and a task that needs one of them with another value waits until it is
free again (tasks that agree on the values run together).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Final

from typedflow import ir

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Names the runtime itself depends on: a task may not change them under the process.
_RESERVED: Final = frozenset({"PATH", "PYTHONPATH", "PYTHONHOME", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH"})
STORE_SCHEMES: Final = ("aws-sm", "gcp-sm")  # references read from a cloud secret store
SCHEMES: Final = ("env", "file", "dotenv", *STORE_SCHEMES)


def normalize(
    env: Mapping[str, str] | None, secrets: Iterable[str] | None
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], list[str]]:
    """(sorted env pairs, secret (name, reference) pairs in order, problems)."""
    from typedflow.dsl.secret import REF

    problems: list[str] = []
    pairs: list[tuple[str, str]] = []
    if env is not None and not isinstance(env, Mapping):
        problems.append("env= takes a dict of variable names to str values")
        env = {}
    for name, value in (env or {}).items():
        if not isinstance(name, str) or _NAME.fullmatch(name) is None or name in _RESERVED:
            problems.append(f"env=: {str(name)[:60]!r} is not a variable name a task may set")
        elif not isinstance(value, str) or len(value) > 4096:
            problems.append(f"env=: the value of {name} must be a str of at most 4096 characters")
        else:
            pairs.append((name, value))
    refs: list[tuple[str, str]] = []
    if isinstance(secrets, str | bytes) or (secrets is not None and not isinstance(secrets, Iterable)):
        problems.append('secrets= takes a list of "NAME=REFERENCE" strings')
        secrets = ()
    for item in secrets or ():
        name, sep, ref = item.partition("=") if isinstance(item, str) else ("", "", "")
        scheme = ref.partition(":")[0]
        if not sep or _NAME.fullmatch(name) is None or name in _RESERVED:
            problems.append(f'secrets=: {str(item)[:60]!r} is not "NAME=REFERENCE" with a variable name a task may set')
        elif REF.fullmatch(ref) is None or scheme not in SCHEMES:
            problems.append(
                f"secrets=: {name}: {ref[:60]!r} is not a reference ({', '.join(s + ':' for s in SCHEMES)}); "
                "a secret's value is never written in code"
            )
        elif name in dict(pairs) or name in dict(refs):
            problems.append(f"secrets=: {name} is set twice")
        else:
            problem = _check_ref(name, scheme, ref)
            if problem:
                problems.append(problem)
            else:
                refs.append((name, ref))
    return tuple(sorted(pairs)), tuple(refs), problems


def _check_ref(name: str, scheme: str, ref: str) -> str:
    from typedflow.runtime.secret_stores import split_aws, split_gcp

    rest = ref.partition(":")[2]
    try:
        if scheme == "aws-sm":
            split_aws(rest)
        elif scheme == "gcp-sm":
            split_gcp(rest, "project")  # the project may come from where the task runs
    except ValueError as exc:
        return f"secrets=: {name}: {exc}"
    return ""


def store_refs(templates: Iterable[ir.TaskTemplate], scheme: str) -> list[str]:
    """The references after ``scheme:`` of every secret the tasks declare (sorted, without repeats)."""
    return sorted({ref.partition(":")[2] for t in templates for _, ref in t.secrets if ref.startswith(scheme + ":")})


class _Scope:
    """Process-wide: which variables running tasks have set, to which values, by how many tasks."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.held: dict[str, tuple[str, int, str | None]] = {}  # name -> (value, holders, value before)

    def acquire(self, values: dict[str, str]) -> None:
        with self.cond:
            self.cond.wait_for(lambda: all(self.held.get(k, (v,))[0] == v for k, v in values.items()))
            for k, v in values.items():
                current = self.held.get(k)
                if current is None:
                    self.held[k] = (v, 1, os.environ.get(k))
                    os.environ[k] = v
                else:
                    self.held[k] = (v, current[1] + 1, current[2])

    def release(self, values: dict[str, str]) -> None:
        with self.cond:
            for k in values:
                value, holders, before = self.held[k]
                if holders > 1:
                    self.held[k] = (value, holders - 1, before)
                    continue
                del self.held[k]
                if before is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = before
            self.cond.notify_all()


_SCOPE = _Scope()


class TaskEnvironment:
    """The variables of one attempt: resolved by :meth:`enter` (secret values go to ``revealed``, so the
    task's errors and output have them blanked out), set until :meth:`exit`."""

    def __init__(self, template: ir.TaskTemplate) -> None:
        self.template = template
        self.values: dict[str, str] = {}

    def enter(self, revealed: list[str]) -> None:
        from typedflow.dsl.secret import SecretUnavailableError, resolve_ref

        values = dict(self.template.env)
        for name, ref in self.template.secrets:
            try:
                value = resolve_ref(ref)
            except SecretUnavailableError as exc:
                raise SecretUnavailableError(f"secret {name} of task {self.template.name} ({ref}): {exc}") from None
            revealed.append(value)
            values[name] = value
        _SCOPE.acquire(values)
        self.values = values

    def exit(self) -> None:
        if self.values:
            _SCOPE.release(self.values)
            self.values = {}


def task_environment(template: ir.TaskTemplate) -> TaskEnvironment | None:
    return TaskEnvironment(template) if (template.env or template.secrets) else None


__all__ = ["SCHEMES", "STORE_SCHEMES", "TaskEnvironment", "normalize", "store_refs", "task_environment"]
