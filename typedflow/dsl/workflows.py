"""``@workflow``: a function traced at once into the IR; called elsewhere, it runs on the local interpreter."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from typedflow import ir
from typedflow.dsl import active, tracing
from typedflow.dsl.environment import Environment
from typedflow.dsl.registry import collector
from typedflow.dsl.tasks import Task, interface, kinds_of, name_problems
from typedflow.errors import Problem, WorkflowDefinitionError, WorkflowFailedError
from typedflow.runtime.running import run

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Workflow(Generic[P, R_co]):
    """A traced workflow: ``.ir`` is its typed graph. Calling it inside another workflow adds a
    sub-workflow node; calling it elsewhere runs it on the local interpreter."""

    def __init__(
        self,
        fn: Callable[P, R_co],
        *,
        name: str | None = None,
        schedule: str | None = None,
        on_failure: Task[..., Any] | None = None,
        environment: Environment | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.schedule = schedule
        self.environment = environment
        self.on_failure = on_failure
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        names, annotations, _, returns_ann, problems, params, returns = interface(fn, "workflow")
        problems += name_problems(self.name, "workflow", fn)
        self.params = names
        self.kinds = kinds_of(fn)
        self.annotations = annotations
        self.returns_annotation = returns_ann
        self.problems: tuple[Problem, ...] = ()
        self._ir: ir.WorkflowIR | None = None
        try:
            self._ir = tracing.trace(self, params, returns, problems)
        except WorkflowDefinitionError as exc:
            if collector() is None:
                raise
            self.problems = exc.problems
        collected = collector()
        if collected is not None:
            collected.workflows.append(self)

    @property
    def ir(self) -> ir.WorkflowIR:
        """The traced IR (raises the definition errors when the workflow has any)."""
        if self._ir is None:
            raise WorkflowDefinitionError(self.name, self.problems)
        return self._ir

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        tracer = active.current()
        if tracer is not None:
            return tracer.call_workflow(self, args, kwargs, sys._getframe(1))  # type: ignore[no-any-return]
        bound = inspect.signature(self.fn).bind(*args, **kwargs)
        result = run(self, **bound.arguments)
        if not result.ok:  # a call returns the value or raises, like the function it stands for
            raise WorkflowFailedError(self.name, result.run_id, result.failures)
        return result.value  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<workflow {self.name}>"


@overload
def workflow(fn: Callable[P, R], /) -> Workflow[P, R]: ...


@overload
def workflow(
    *,
    name: str | None = None,
    schedule: str | None = None,
    on_failure: Task[..., Any] | None = None,
    environment: Environment | None = None,
) -> Callable[[Callable[P, R]], Workflow[P, R]]: ...


def workflow(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Declare a workflow, traced at once: ``@workflow`` or ``@workflow(schedule="0 3 * * *")``."""
    if fn is not None:
        return Workflow(fn)
    return lambda f: Workflow(f, **options)


__all__ = ["Workflow", "workflow"]
