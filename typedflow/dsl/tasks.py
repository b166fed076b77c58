"""``@task``: a typed function the workflow graph calls, with the exact signature kept for type checkers."""

from __future__ import annotations

import datetime as dt
import inspect
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, NamedTuple, ParamSpec, TypeVar, overload

import attrs

from typedflow import ir
from typedflow.dsl import active
from typedflow.dsl.environment import Environment
from typedflow.dsl.registry import collector, register_task
from typedflow.dsl.source import code_digest, default_lines, func_loc
from typedflow.dsl.taskenv import normalize as normalize_task_env
from typedflow.errors import Problem, TaskDefinitionError, UnsupportedType
from typedflow.ir.types import check_json, holds_secret, normal_form, type_ref

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@attrs.frozen
class Retry:
    """Retry policy: ``attempts`` in total, exponential ``backoff`` from ``initial_delay`` seconds,
    capped at ``max_delay``, with full jitter; only for the exception types in ``on`` (default: any)."""

    attempts: int = 3
    backoff: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0
    jitter: bool = True
    on: tuple[type[BaseException], ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts must be at least 1")
        if self.backoff < 1.0:
            raise ValueError("Retry.backoff must be at least 1.0")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("Retry delays must not be negative")

    def to_ir(self) -> ir.RetryPolicy:
        return ir.RetryPolicy(
            attempts=self.attempts,
            backoff=float(self.backoff),
            initial_delay=float(self.initial_delay),
            max_delay=float(self.max_delay),
            jitter=self.jitter,
            on=tuple(f"{e.__module__}:{e.__qualname__}" for e in self.on),
        )


Resources = ir.ResourceSpec
"""``Resources(cpu=2, memory="4Gi", gpu=1, gpu_type="nvidia-tesla-t4", ephemeral_storage="10Gi")``."""


class Kinds(NamedTuple):
    """How a function's parameters may be given: those that only by position, and those that only by name."""

    positional_only: frozenset[str] = frozenset()
    keyword_only: frozenset[str] = frozenset()


ANY_KIND: Final = Kinds()  # every parameter may be given by position or by name


def kinds_of(fn: Callable[..., Any]) -> Kinds:
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__wrapped__"):  # read off the code: inspect.signature costs more
        if not (code.co_posonlyargcount or code.co_kwonlyargcount):  # than the rest of a decoration
            return ANY_KIND
        names = code.co_varnames
        return Kinds(
            frozenset(names[: code.co_posonlyargcount]),
            frozenset(names[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]),
        )
    ps = inspect.signature(fn).parameters.values()
    return Kinds(
        frozenset(p.name for p in ps if p.kind is p.POSITIONAL_ONLY),
        frozenset(p.name for p in ps if p.kind is p.KEYWORD_ONLY),
    )


class TaskSignature:
    """A task's typed interface, checked at decoration; its IR template (which needs the code
    digest, the costly part) is built on first use."""

    __slots__ = ("_build", "_template", "annotations", "defaults", "kinds", "params", "problems", "returns")

    def __init__(
        self,
        params: tuple[str, ...],
        annotations: dict[str, Any],
        defaults: dict[str, Any],
        returns: Any,
        build: Callable[[], ir.TaskTemplate] | None,
        problems: tuple[Problem, ...],
        kinds: Kinds = ANY_KIND,
    ) -> None:
        self.params = params
        self.kinds = kinds
        self.annotations = annotations
        self.defaults = defaults
        self.returns = returns
        self.problems = problems
        self._build = build
        self._template: ir.TaskTemplate | None = None

    @property
    def template(self) -> ir.TaskTemplate | None:
        """The IR template, or None when the signature has problems."""
        if self._template is None and self._build is not None:
            self._template = self._build()  # idempotent: a race only builds the same value twice
        return self._template


def _timeout_seconds(timeout: float | dt.timedelta | None) -> float | None:
    if timeout is None:
        return None
    return timeout.total_seconds() if isinstance(timeout, dt.timedelta) else float(timeout)


def interface(
    fn: Callable[..., Any], what: str
) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any], Any, list[Problem], list[ir.Param], ir.TypeRef | None]:
    loc = func_loc(fn)
    problems: list[Problem] = []
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        problems.append(Problem(loc, f"{what} {fn.__name__!r}: cannot resolve annotations ({exc})", "name-defined"))
        hints = {}
    sig = inspect.signature(fn)
    names: list[str] = []
    defaults: dict[str, Any] = {}
    params: list[ir.Param] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            problems.append(
                Problem(
                    loc,
                    f"{what} {fn.__name__!r}: *args/**kwargs are not supported; name each parameter",
                    "typedflow-untyped",
                )
            )
            continue
        names.append(p.name)
        if p.name not in hints and names == [p.name] and p.name in ("self", "cls") and _in_class(fn):
            problems.append(
                Problem(
                    loc,
                    f"{what} {fn.__name__!r} is a method: its first parameter, {p.name}, is not a typed input; "
                    f"define the {what} at module level, or make it a @staticmethod (above @{what})",
                    "typedflow-untyped",
                )
            )
            continue
        if p.name not in hints:
            problems.append(
                Problem(
                    loc, f"{what} {fn.__name__!r}: parameter {p.name!r} has no type annotation", "typedflow-untyped"
                )
            )
            continue
        try:
            t = type_ref(hints[p.name])
        except UnsupportedType as exc:
            problems.append(
                Problem(loc, f"{what} {fn.__name__!r}: parameter {p.name!r}: {exc}", "typedflow-unsupported-type")
            )
            continue
        inner = t.args[0] if t.kind == "optional" else t
        if inner.kind != "secret" and holds_secret(t):
            problems.append(
                Problem(
                    loc,
                    f"{what} {fn.__name__!r}: parameter {p.name!r}: a Secret is a parameter of its own "
                    "(`Secret` or `Secret | None`), not part of a container or record",
                    "typedflow-secret",
                )
            )
            continue
        has_default = p.default is not p.empty
        default_json = None
        if has_default:
            defaults[p.name] = p.default
            from typedflow.ir.values import encode

            try:
                default_json = encode(p.default, hints[p.name])
                problem = check_json(default_json, t, f"default of {p.name!r}")
                err = None if problem is None else str(problem)
                default_json = normal_form(default_json, t)
            except Exception as exc:
                err = f"default of {p.name!r} cannot be encoded as {t}: {exc}"
            if err:  # on the default's line, as mypy reports it
                line = default_lines(fn).get(p.name, loc.line)
                problems.append(Problem(ir.SourceLoc(loc.file, line), f"{what} {fn.__name__!r}: {err}", "assignment"))
        params.append(ir.Param(p.name, t, has_default, default_json))
    returns_ann: Any = hints.get("return", inspect.Signature.empty)
    returns: ir.TypeRef | None = None
    if "return" not in hints:
        problems.append(
            Problem(
                loc,
                f"{what} {fn.__name__!r} has no return annotation (use -> None if it returns nothing)",
                "typedflow-untyped",
            )
        )
    else:
        try:
            returns = type_ref(returns_ann)
            if holds_secret(returns):
                problems.append(
                    Problem(
                        loc,
                        f"{what} {fn.__name__!r}: returns a Secret; secrets reach tasks as parameters and are never "
                        "outputs (outputs are stored, cached and recorded)",
                        "typedflow-secret",
                    )
                )
                returns = None
        except UnsupportedType as exc:
            problems.append(Problem(loc, f"{what} {fn.__name__!r}: return type: {exc}", "typedflow-unsupported-type"))
    annotations = {k: v for k, v in hints.items() if k != "return"}
    return tuple(names), annotations, defaults, returns_ann, problems, params, returns


def _in_class(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is defined in a class body (``Steps.clean``, not ``train.<locals>.body``)."""
    parts = fn.__qualname__.split(".")
    return len(parts) > 1 and parts[-2] != "<locals>"


def name_problems(name: str, what: str, fn: Callable[..., Any]) -> list[Problem]:
    """A name that is not safe to print or to use in file and state names (``name=`` is free text)."""
    from typedflow.util.boundary import BoundaryError, check_name

    try:
        check_name(name, f"{what} name")
    except BoundaryError as exc:
        return [Problem(func_loc(fn), str(exc), "typedflow-name")]
    return []


def outputs_of(returns: ir.TypeRef) -> tuple[ir.Param, ...]:
    """Named outputs: a NamedTuple's fields, nothing for None, else one output ``out``."""
    if returns.kind == "none":
        return ()
    if returns.kind == "record" and returns.flavor == "namedtuple":
        return tuple(ir.Param(f.name, f.type) for f in returns.fields)
    return (ir.Param("out", returns),)


class Task(Generic[P, R_co]):
    """A typed unit of work. Inside a ``@workflow`` a call adds a node; elsewhere it runs ``fn``."""

    def __init__(
        self,
        fn: Callable[P, R_co],
        *,
        name: str | None = None,
        version: str = "",
        image: str | None = None,
        timeout: float | dt.timedelta | None = None,
        cache: bool = True,
        cache_version: str = "",
        retry: Retry | None = None,
        resources: ir.ResourceSpec | None = None,
        environment: Environment | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.environment = environment
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        names, annotations, defaults, returns_ann, problems, params, returns = interface(fn, "task")
        problems += name_problems(self.name, "task", fn)
        env_pairs, secret_refs, env_problems = normalize_task_env(env, secrets)
        problems += [Problem(func_loc(fn), p, "typedflow-env") for p in env_problems]
        build = None
        if returns is not None and not problems:
            returns_ref = returns
            retry_ir = (retry or Retry(attempts=1)).to_ir()

            def build() -> ir.TaskTemplate:
                return ir.TaskTemplate(
                    name=self.name,
                    module=fn.__module__,
                    qualname=fn.__qualname__,
                    code_digest=code_digest(fn),
                    inputs=tuple(params),
                    outputs=outputs_of(returns_ref),
                    returns=returns_ref,
                    version=version,
                    image=image,
                    timeout=_timeout_seconds(timeout),
                    retry=retry_ir,
                    resources=resources or ir.ResourceSpec(),
                    cache=ir.CachePolicy(enabled=cache, version=cache_version),
                    loc=func_loc(fn),
                    environment=environment.to_ir() if environment is not None else None,
                    env=env_pairs,
                    secrets=secret_refs,
                )

            register_task((fn.__module__, fn.__qualname__), self)
        self.signature = TaskSignature(names, annotations, defaults, returns_ann, build, tuple(problems), kinds_of(fn))
        self.call_options: ir.NodeOptions | None = None  # set on the copy options() returns
        collected = collector()
        if collected is not None:
            collected.tasks.append(self)

    def options(
        self,
        *,
        cache: bool | None = None,
        cache_version: str | None = None,
        retry: Retry | None = None,
        timeout: float | dt.timedelta | None = None,
        resources: ir.ResourceSpec | None = None,
    ) -> Task[P, R_co]:
        """This task with options of its own for one call: ``train.options(cache=False)(data=d)``.
        What is not given keeps the task's own setting; the cache key does not change (unless
        ``cache_version`` does)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.call_options = ir.NodeOptions(
            cache=cache,
            cache_version=cache_version,
            retry=retry.to_ir() if retry is not None else None,
            timeout=_timeout_seconds(timeout),
            resources=resources,
        )
        return copy

    @property
    def template(self) -> ir.TaskTemplate:
        """The IR template; raises :class:`TaskDefinitionError` when the signature has problems."""
        template = self.signature.template
        if template is None:
            raise TaskDefinitionError(self.signature.problems)
        return template

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        tracer = active.current()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.call_task(self, args, kwargs, sys._getframe(1))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<task {self.name}>"


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    version: str = "",
    image: str | None = None,
    timeout: float | dt.timedelta | None = None,
    cache: bool = True,
    cache_version: str = "",
    retry: Retry | None = None,
    resources: ir.ResourceSpec | None = None,
    environment: Environment | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Declare a task: ``@task`` or ``@task(retry=Retry(3), resources=Resources(cpu=2))``."""
    if fn is not None:
        return Task(fn)
    return lambda f: Task(f, **options)


__all__ = [
    "ANY_KIND",
    "Kinds",
    "Resources",
    "Retry",
    "Task",
    "TaskSignature",
    "interface",
    "kinds_of",
    "name_problems",
    "outputs_of",
    "task",
]
