"""``when`` / ``otherwise`` branches, ``map_over`` fan-out and ``after`` ordering."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

from typedflow.dsl import active
from typedflow.dsl.source import argument_lines

if TYPE_CHECKING:
    from typedflow.dsl.tasks import Task

P = ParamSpec("P")

T = TypeVar("T")
R = TypeVar("R")


class _Branch:
    __slots__ = ("_cond", "_kind", "_tracer")

    def __init__(self, cond: object, kind: str) -> None:
        self._cond = cond
        self._kind = kind
        tracer = active.current()
        if tracer is None:
            raise RuntimeError("when()/orwhen()/otherwise() only have meaning inside a @workflow body")
        self._tracer = tracer

    def __enter__(self) -> None:
        self._tracer.enter_branch(self._cond, sys._getframe(1), self._kind)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tracer.exit_branch()


def when(cond: bool) -> _Branch:
    """Run the ``with`` block only when ``cond`` (a comparison of task outputs) holds at run time."""
    return _Branch(cond, "when")


def orwhen(cond: bool) -> _Branch:
    """Python's ``elif``: right after a ``when``/``orwhen`` block, run this block when ``cond`` holds and
    no earlier block of the chain ran."""
    return _Branch(cond, "orwhen")


def otherwise() -> _Branch:
    """The branch run when no block of the directly preceding ``when``/``orwhen`` chain ran."""
    return _Branch(None, "otherwise")


class _After:
    __slots__ = ("_tracer", "_values")

    def __init__(self, values: tuple[object, ...]) -> None:
        self._values = values
        self._tracer = active.current()

    def __enter__(self) -> None:
        if self._tracer is not None:
            self._tracer.enter_after(self._values, sys._getframe(1))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tracer is not None:
            self._tracer.exit_after()


def after(*values: object) -> _After:
    """Run what the ``with`` block starts only after the tasks (or sub-workflows, maps) that returned
    ``values`` have finished, without passing their outputs: an ordering edge. Outside a workflow it
    does nothing (tasks called as functions run in order anyway)."""
    return _After(values)


class _ExitHandler:
    __slots__ = ("_args", "_kwargs", "_lines", "_task", "_tracer")

    def __init__(
        self, task: object, args: tuple[object, ...], kwargs: dict[str, object], caller: FrameType | None = None
    ) -> None:
        self._task, self._args, self._kwargs = task, args, kwargs
        self._tracer = active.current()
        # Read while the call is being made: a call over several lines reports each argument at its own line.
        self._lines = argument_lines(caller, 1 + len(args), list(kwargs)) if self._tracer and caller else None

    def __enter__(self) -> None:
        if self._tracer is not None:
            self._tracer.enter_exit_handler(self._task, self._args, self._kwargs, sys._getframe(1), self._lines)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tracer is not None:
            self._tracer.exit_exit_handler()
        elif exc_type is None or issubclass(exc_type, Exception):
            self._task(*self._args, **self._kwargs)  # type: ignore[operator]  # a plain call: the handler runs


def exit_handler(handler: Task[P, object], /, *args: P.args, **kwargs: P.kwargs) -> _ExitHandler:
    """Run the ``with`` block, then ``handler(*args, **kwargs)`` whether the block succeeded or failed (KFP's
    ``ExitHandler``, a ``finally``): a parameter ``failure: Failure | None = None`` of the handler gets None,
    or the block's first failure. The block fails when its body or its handler failed."""
    return _ExitHandler(handler, args, kwargs, sys._getframe(1))


def one_of(*values: T | None) -> T:
    """The value of whichever branch of a ``when``/``orwhen``/``otherwise`` chain ran: give it the value each
    branch computes (a branch that ends in ``fail(...)`` needs none). The chain must end with ``otherwise()``,
    so a value always exists; its type is what every value is assignable to (Flyte's ``conditional``, KFP's
    ``dsl.OneOf``). Outside a workflow it is the first value that is not None."""
    tracer = active.current()
    if tracer is None:
        return next(v for v in values if v is not None)
    return tracer.one_of(values, sys._getframe(1))  # type: ignore[return-value]


def fail(message: str) -> None:
    """Fail the run here with ``message`` (error type ``typedflow.Fail``), typically inside a ``when``
    branch; ``on_failure`` handlers see it like any failure. Outside a workflow it raises."""
    tracer = active.current()
    if tracer is None:
        raise WorkflowFailedByDesignError(message)
    tracer.fail(message, sys._getframe(1))


class WorkflowFailedByDesignError(Exception):
    """``fail(message)`` reached outside a workflow run (the workflow body called as a function)."""


def map_over(
    fn: Callable[[T], R],
    items: list[T] | tuple[T, ...],
    *,
    max_concurrency: int | None = None,
    distributed: bool | Literal["auto"] = False,
    tolerated_failure: float = 0.0,
) -> list[R]:
    """Apply ``fn`` (which calls tasks) to every element of ``items``, concurrently; the results in
    item order. Outside a workflow it is a plain list comprehension.

    ``distributed``: on Step Functions, a Distributed Map (each item a child execution, up to 10,000 at
    once); ``"auto"`` when ``--map-size`` is past what an inline Map holds. ``tolerated_failure``: the share
    of items (0 to 1) that may fail without failing the map, on every target; a failed item's result is
    None, so ``fn`` must return an Optional."""
    tracer = active.current()
    if tracer is None:
        return [fn(x) for x in items]
    return tracer.map_over(  # type: ignore[no-any-return]
        fn, items, max_concurrency, sys._getframe(1), distributed=distributed, tolerated_failure=tolerated_failure
    )
