"""Tracing a ``@workflow`` body into the IR, collecting every wiring error on the way."""

from __future__ import annotations

import dataclasses
import enum
import platform
import re
import traceback
import typing
from collections.abc import Callable, Sequence
from types import CodeType, FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

import attrs

from typedflow import ir
from typedflow._version import __version__
from typedflow.dsl import active, constfiles
from typedflow.dsl.promises import Cond, Promise, comparable
from typedflow.dsl.secret import Secret
from typedflow.dsl.source import (
    argument_lines,
    frame_loc,
    func_loc,
    return_lines,
    returned_arguments,
    returns_in_branches,
)
from typedflow.dsl.srcpaths import stable_path
from typedflow.dsl.tasks import ANY_KIND, Kinds, Task, outputs_of
from typedflow.errors import Problem, WorkflowDefinitionError
from typedflow.ir.types import JsonProblem, assignable, check_json, columns_mismatch, normal_form, type_ref
from typedflow.ir.values import is_namedtuple
from typedflow.runtime.execute import has_files, map_files

if TYPE_CHECKING:
    from typedflow.dsl.workflows import Workflow

RETURN_IN_BRANCH = (
    "return inside a `with when(...)` / `with otherwise()` block: the workflow is traced once, so the code "
    "after the block would silently not be part of it; assign the value and return it after the block"
)
_TYPEDFLOW_DIR = __file__.rsplit("/", 2)[0]  # the typedflow package: its frames are never the user's


class Scope:
    """Where a node is created: the workflow root, a ``when`` branch or a ``map_over`` body."""

    __slots__ = ("depth", "id", "kind", "nodes", "parent")

    def __init__(self, kind: str, id: str, parent: Scope | None) -> None:
        self.kind = kind
        self.id = id
        self.parent = parent
        self.nodes: list[Any] = []
        self.depth: int = 0 if parent is None else parent.depth + 1  # blocks around its nodes

    def encloses(self, other: Scope | None) -> bool:
        """Whether ``self`` is ``other`` or one of its ancestors."""
        s = other
        while s is not None:
            if s is self:
                return True
            s = s.parent
        return False


class _CondBuilder:
    __slots__ = ("after", "branches", "closed_otherwise", "id", "loc")

    def __init__(self, id: str, loc: ir.SourceLoc) -> None:
        self.id = id
        self.loc = loc
        self.branches: list[tuple[ir.Condition | None, Scope, ir.SourceLoc]] = []
        self.closed_otherwise = False
        self.after: tuple[str, ...] = ()


class _MapBuilder:
    __slots__ = (
        "after",
        "distributed",
        "id",
        "item_type",
        "items",
        "loc",
        "max_concurrency",
        "result",
        "result_type",
        "scope",
        "tolerated_failure",
    )

    def __init__(
        self,
        id: str,
        items: ir.Arg,
        item_type: ir.TypeRef,
        scope: Scope,
        loc: ir.SourceLoc,
        max_concurrency: int | None,
    ) -> None:
        self.id = id
        self.items = items
        self.item_type = item_type
        self.scope = scope
        self.loc = loc
        self.max_concurrency = max_concurrency
        self.distributed: bool | Literal["auto"] = False
        self.tolerated_failure = 0.0
        self.result: ir.MapResult = ir.Const(None)
        self.result_type = ir.TypeRef("none")
        self.after: tuple[str, ...] = ()


class _ExitBuilder:
    __slots__ = ("after", "handler", "id", "loc", "scope")

    def __init__(self, id: str, handler: ir.OnFailure | None, scope: Scope, loc: ir.SourceLoc) -> None:
        self.id = id
        self.handler = handler
        self.scope = scope
        self.loc = loc
        self.after: tuple[str, ...] = ()


_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class Tracer:
    """Builds one workflow's IR. Task calls, ``when`` and ``map_over`` report here."""

    def __init__(self, wf: Workflow[Any, Any], problems: list[Problem]) -> None:
        self.wf = wf
        self.problems = problems
        self.root = Scope("root", "", None)
        self.scope = self.root
        self.counts: dict[str, int] = {}
        self.tasks: dict[str, ir.TaskTemplate] = {}
        self.subworkflows: dict[str, ir.Workflow] = {}
        self.last_conditional: _CondBuilder | None = None
        self.misused: set[ir.SourceLoc] = set()
        # `with after(...)` blocks open now: the scope they were entered in, and the node ids to wait for.
        self.ordering: list[tuple[Scope, tuple[str, ...]]] = []
        self.too_deep = False  # reported once
        # Where the function a map_over is setting up is written: a task mapped directly reports its errors there.
        self.mapped_at: ir.SourceLoc | None = None

    def check_nesting(self, loc: ir.SourceLoc, depth: int) -> None:
        """Blocks (and sub-workflow calls) nested ``depth`` deep at ``loc``: at most ``ir.MAX_NESTING``."""
        if depth > ir.MAX_NESTING and not self.too_deep:
            self.too_deep = True
            self.problem(
                loc,
                f"blocks nested {depth} deep here (when, map_over, exit_handler and sub-workflow calls); at most "
                f"{ir.MAX_NESTING} are supported (every pass over the workflow follows the nesting): flatten it",
                "typedflow-nesting",
            )

    # ------------------------------------------------------------------ problems
    def problem(self, loc: ir.SourceLoc, message: str, code: str) -> None:
        self.problems.append(Problem(loc, message, code))

    def problem_at(self, frame: FrameType, message: str, code: str) -> None:
        self.problem(frame_loc(frame), message, code)

    def misuse_at(self, frame: FrameType, message: str, code: str) -> None:
        """A Python operation on a task output: one error per line, and the statement's other
        consequences (e.g. a call left without arguments after ``*output``) are not reported."""
        loc = frame_loc(frame)
        if loc in self.misused:
            return
        self.misused.add(loc)
        self.problem(loc, message, code)

    # ------------------------------------------------------------------ ids
    def new_id(self, base: str) -> str:
        n = self.counts.get(base, 0) + 1
        self.counts[base] = n
        return base if n == 1 else f"{base}-{n}"

    def add(self, node: Any) -> None:
        waits = self.waits()
        if waits:
            if isinstance(node, _MapBuilder | _ExitBuilder):
                node.after = waits
            else:
                node = attrs.evolve(node, after=waits)
        self.scope.nodes.append(node)
        self.last_conditional = None

    def waits(self) -> tuple[str, ...]:
        """The node ids a node created now waits for (the open `with after(...)` blocks of this scope)."""
        return tuple(dict.fromkeys(i for scope, ids in self.ordering if scope is self.scope for i in ids))

    def enter_after(self, values: tuple[Any, ...], frame: FrameType) -> None:
        loc = frame_loc(frame)
        here = {getattr(n, "id", None) for n in self.scope.nodes}
        ids: list[str] = []
        for v in values:
            node = v._node if isinstance(v, Promise) else None
            if node is None or node not in here:
                if not (isinstance(v, Promise) and v._poison):
                    self.problem(
                        loc,
                        f"after() waits for what a task, sub-workflow or map_over of this block returned; got "
                        f"{v._origin if isinstance(v, Promise) else _pytype(v)}",
                        "typedflow-after",
                    )
                continue
            ids.append(node)
        self.ordering.append((self.scope, tuple(ids)))

    def exit_after(self) -> None:
        self.ordering.pop()

    def enter_exit_handler(
        self,
        t: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        frame: FrameType,
        lines: dict[int | str, int] | None = None,
    ) -> None:
        """``lines``: the line of each argument of the ``exit_handler(...)`` call (the handler first), when the
        call is written over several lines."""
        loc = frame_loc(frame)
        handler: ir.OnFailure | None = None
        template = t.signature.template if isinstance(t, Task) else None
        if template is None:
            self.problem(loc, "exit_handler() takes a @task with a valid signature, then its arguments", "arg-type")
        else:
            self.register_task(template, loc)
            sig = t.signature
            shifted = {k - 1 if isinstance(k, int) else k: v for k, v in (lines or {}).items() if k != 0}
            bound = self.bind_call(
                f'task "{t.name}"', sig.params, template.inputs, sig.annotations, args, kwargs, loc, sig.kinds, shifted
            )
            by_name = {a.param: a for a in bound}
            for p in template.inputs:
                if _is_failure(p.type):
                    self.problem(
                        loc,
                        f'exit handler "{t.name}": parameter "{p.name}" must be `Failure | None = None` (None when '
                        "the block succeeded)",
                        "typedflow-on-failure",
                    )
                elif p.type.kind == "optional" and _is_failure(p.type.args[0]):
                    by_name[p.name] = ir.Arg(p.name, ir.FailureRef())
            handler = ir.OnFailure(
                template.name, tuple(by_name[p.name] for p in template.inputs if p.name in by_name), loc
            )
        builder = _ExitBuilder(self.new_id("exit_handler"), handler, Scope("guard", "", self.scope), loc)
        builder.scope.id = builder.id
        self.check_nesting(loc, builder.scope.depth)
        self.add(builder)
        self.scope = builder.scope

    def exit_exit_handler(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent
        self.last_conditional = None

    def one_of(self, values: tuple[Any, ...], frame: FrameType) -> Promise:
        """``one_of(a, b, ...)``: the value of whichever branch of one `when` chain ran."""
        loc = frame_loc(frame)
        poisoned = Promise(self, ir.Const(None), ir.TypeRef("any"), None, "one_of()")

        def bad(message: str) -> Promise:
            self.problem(loc, f"one_of(): {message}", "typedflow-one-of")
            return poisoned

        if not values:
            return bad("give it the value each branch of a when/orwhen/otherwise chain computes")
        if any(isinstance(v, Promise) and v._poison for v in values):
            return poisoned
        builder: _CondBuilder | None = None
        taken: dict[int, Promise] = {}
        for v in values:
            scope = v._scope if isinstance(v, Promise) else None
            if not isinstance(v, Promise) or not isinstance(v._ref, ir.OutputRef) or scope is None:
                return bad(
                    f"{_pytype(v) if not isinstance(v, Promise) else v._origin} is not a value a branch computed"
                )
            if scope.kind != "branch":
                return bad(f"{v._origin} is not computed directly in a branch of a when chain")
            owner = self._builder_of(scope)
            if builder is not None and owner is not builder:
                return bad("its values come from different when chains")
            builder = owner
            index = next(i for i, (_, s, _) in enumerate(owner.branches) if s is scope)
            if index in taken:
                return bad(f"{v._origin} and {taken[index]._origin} come from the same branch")
            taken[index] = v
        assert builder is not None
        parent = builder.branches[0][1].parent
        if (
            parent is None
            or not parent.encloses(self.scope)
            or any(s.encloses(self.scope) for _, s, _ in builder.branches)
        ):
            return bad("use it after its when chain, in the block the chain is in")
        failing = {
            i for i, (_, s, _) in enumerate(builder.branches) if any(isinstance(n, ir.FailNode) for n in s.nodes)
        }
        missing = [i for i in range(len(builder.branches)) if i not in taken and i not in failing]
        if not builder.closed_otherwise or missing:
            return bad(
                "every branch of the chain must compute one of its values (or fail(...)), and the chain must end "
                "with otherwise(), so that a value always exists; else read the branch values as `T | None`"
            )
        types = [v._type for v in taken.values()]
        joined = next((t for t in types if all(assignable(u, t) for u in types)), None)
        if joined is None:
            shown = ", ".join(sorted({str(t) for t in types}))
            return bad(f"its values have no common type ({shown})")
        options = tuple(v._ref for _, v in sorted(taken.items()) if isinstance(v._ref, ir.OutputRef))
        return Promise(self, ir.OneOf(options), joined, parent, "one_of()")

    def _builder_of(self, scope: Scope) -> _CondBuilder:
        for node in scope.parent.nodes if scope.parent else []:
            if isinstance(node, _CondBuilder) and node.id == scope.id:
                return node
        raise AssertionError("branch scope without its conditional")

    def fail(self, message: Any, frame: FrameType) -> None:
        loc = frame_loc(frame)
        if not isinstance(message, str):
            got = _described_value(message._origin) if isinstance(message, Promise) else _pytype(message)
            self.problem(loc, f"fail() takes a message written in the workflow (a str), got {got}", "arg-type")
            message = "the workflow failed"
        self.add(ir.FailNode(self.new_id("fail"), message[:4096], loc))

    # ------------------------------------------------------------------ bindings
    def visible(self, p: Promise, loc: ir.SourceLoc, what: str) -> tuple[ir.TypeRef, bool] | None:
        """The type of ``p`` seen from the current scope, and whether it is optional here."""
        s = p._scope
        if s is None or s.encloses(self.scope):
            return p._type, False
        optional = False
        while s is not None and not s.encloses(self.scope):
            if s.kind == "map":
                self.problem(
                    loc,
                    f"{what}: {p._origin} is produced inside map_over and is only available "
                    "there; use the list that map_over returns",
                    "typedflow-map-scope",
                )
                return None
            if s.kind == "branch":  # (an exit handler's body is not a branch: it ran, or the run failed)
                optional = True
            s = s.parent
        t = p._type
        if optional and t.kind != "optional":
            t = ir.TypeRef("optional", (t,))
        return t, optional

    def bind(
        self, param: str, value: Any, dst: ir.TypeRef, ann: Any, loc: ir.SourceLoc, target: str, code: str = "arg-type"
    ) -> ir.Arg | None:
        what = f'Argument "{param}" to {target}'
        if isinstance(value, Promise):
            if value._poison:
                return ir.Arg(param, ir.Const(None))
            seen = self.visible(value, loc, what)
            if seen is None:
                return None
            src, optional = seen
            if not assignable(src, dst):
                hint = ""
                if optional and assignable(src.args[0], dst):
                    hint = (
                        f' (it comes from a `when` branch and may not exist here; declare the parameter "{dst} | None")'
                    )
                columns = columns_mismatch(src, dst)
                if columns:
                    hint = f": {columns}"
                self.problem(
                    loc, f'{what} has incompatible type "{src}" (from {value._origin}); expected "{dst}"{hint}', code
                )
                return None
            return ir.Arg(param, value._ref, optional)
        if isinstance(value, Cond):
            self.problem(loc, f"{what}: a condition is not a value; use it in `when(...)`", code)
            return None
        if _contains_promise(value):
            self.problem(
                loc,
                f"{what}: a container or record holding task outputs cannot be built in a "
                "workflow; build it inside a @task (or return a NamedTuple of outputs)",
                "typedflow-container",
            )
            return None
        handle = _handle_type(value)
        if handle is not None and not assignable(handle, dst):  # a file of a format of its own: formats are nominal
            self.problem(loc, f'{what} has incompatible type "{handle}"; expected "{dst}"', code)
            return None
        from typedflow.ir.values import encode

        # Numeric widening as a static checker allows it (bool ≤ int ≤ float).
        if dst.kind == "float" and isinstance(value, int):
            value = float(value)
        elif dst.kind == "int" and isinstance(value, bool):
            value = int(value)
        try:
            data = encode(value, ann)
            err = check_json(data, dst, param)
        except Exception:
            err = JsonProblem(param, "cannot be encoded")
        if isinstance(value, Secret) and value.by_value:
            self.problem(
                loc,
                f"{what}: a Secret given by value cannot be written into a workflow (the IR is stored and "
                "shared); take it as a workflow input, or use Secret.from_env(...)",
                "typedflow-secret",
            )
            return None
        if err:
            if err.value_rule:
                self.problem(loc, f"{what}: {str(err).removeprefix(param + ': ')}", code)
            else:
                self.problem(loc, f'{what} has incompatible type "{_pytype(value)}"; expected "{dst}"', code)
            return None
        return ir.Arg(param, ir.Const(self.constant_files(normal_form(data, dst), dst)))

    def constant_files(self, data: Any, t: ir.TypeRef) -> Any:
        """``data`` with each file or directory in it recorded by content (see :mod:`typedflow.dsl.constfiles`)."""
        if not has_files(t):
            return data
        root = constfiles.import_root(getattr(self.wf.fn, "__module__", None), self.wf.fn.__code__.co_filename)
        return map_files(data, t, lambda v, ft: constfiles.record(v, ft, root))

    def bind_call(
        self,
        target: str,
        names: Sequence[str],
        params: Sequence[ir.Param],
        anns: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        loc: ir.SourceLoc,
        kinds: Kinds = ANY_KIND,
        lines: dict[int | str, int] | None = None,
    ) -> list[ir.Arg]:
        """Arguments bound to parameters as Python binds them (``kinds``: which are positional- or
        keyword-only), each checked against its parameter's type; an argument's error is reported on
        its own line (``lines``, by position or keyword, for a call written over several lines)."""
        given: dict[str, Any] = {}
        if loc in self.misused:  # e.g. ``task(*output)``: the arguments are unknowable
            return [ir.Arg(p.name, ir.Const(None)) for p in params]
        lines = lines or {}
        where: dict[str, ir.SourceLoc] = {}
        positional = [n for n in names if n not in kinds.keyword_only]
        if len(args) > len(positional):
            self.problem(loc, f"Too many positional arguments for {target}", "call-arg")
        for i, (name, v) in enumerate(zip(positional, args, strict=False)):
            given[name] = v
            if i in lines:
                where[name] = ir.SourceLoc(loc.file, lines[i])
        for k, v in kwargs.items():
            if k in lines and k not in where:
                where[k] = ir.SourceLoc(loc.file, lines[k])
            if k not in names:
                self.problem(loc, f'Unexpected keyword argument "{k}" for {target}', "call-arg")
            elif k in kinds.positional_only:
                self.problem(loc, f'Unexpected keyword argument "{k}" for {target} (it is positional-only)', "call-arg")
                given.setdefault(k, v)  # bound all the same: no "missing argument" follows
            elif k in given:
                self.problem(loc, f'{target} got multiple values for argument "{k}"', "misc")
            else:
                given[k] = v
        out: list[ir.Arg] = []
        for p in params:
            if p.name in given:
                arg = self.bind(p.name, given[p.name], p.type, anns.get(p.name), where.get(p.name, loc), target)
                if arg is not None:
                    out.append(arg)
            elif p.has_default:
                out.append(ir.Arg(p.name, ir.Const(p.default)))
            else:
                self.problem(loc, f'Missing positional argument "{p.name}" in call to {target}', "call-arg")
        return out

    # ------------------------------------------------------------------ calls
    def register_task(self, template: ir.TaskTemplate, loc: ir.SourceLoc) -> None:
        prev = self.tasks.get(template.name)
        if prev is None:
            self.tasks[template.name] = template
        elif (prev.module, prev.qualname) != (template.module, template.qualname):
            self.problem(
                loc,
                f'Two different tasks are named "{template.name}" ({prev.module}.{prev.qualname} '
                f"and {template.module}.{template.qualname}); give one a distinct "
                "@task(name=...)",
                "typedflow-duplicate-name",
            )

    def call_task(self, t: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], frame: FrameType) -> Any:
        user = user_frame(frame)
        loc = frame_loc(user) if user is frame or self.mapped_at is None else self.mapped_at
        sig = t.signature
        template = sig.template
        if template is None:
            for p in sig.problems:
                if p not in self.problems:
                    self.problems.append(p)
            self.problem(
                loc, f'task "{t.name}" cannot be used: its signature has errors (see above)', "typedflow-untyped"
            )
            return Promise(self, ir.Const(None), ir.TypeRef("any"), None, t.name)
        self.register_task(template, loc)
        target = f'task "{t.name}"'
        lines = argument_lines(user, len(args), list(kwargs)) if user is frame else None  # (not map_over's call)
        bound = self.bind_call(
            target, sig.params, template.inputs, sig.annotations, args, kwargs, loc, sig.kinds, lines
        )
        node_id = self.new_id(template.name)
        self.add(ir.TaskNode(node_id, template.name, tuple(bound), loc, options=t.call_options))
        return self._result(node_id, template.returns, t.name)

    def _result(self, node_id: str, returns: ir.TypeRef, label: str) -> Promise:
        if returns.kind == "none":
            return Promise(self, ir.Const(None), returns, self.scope, f"{label}()", node_id)
        if returns.kind == "record" and returns.flavor == "namedtuple":
            return Promise(self, ir.OutputRef(node_id, None), returns, self.scope, f"{label}()", node_id)
        return Promise(self, ir.OutputRef(node_id, "out"), returns, self.scope, f"{label}()", node_id)

    def call_workflow(
        self, sub: Workflow[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], frame: FrameType
    ) -> Any:
        user = user_frame(frame)
        loc = frame_loc(user)
        if sub.problems:  # its definition failed (collected by `typedflow check`): one error here
            self.problem(
                loc, f'workflow "{sub.name}" cannot be used: its definition has errors (see above)', "typedflow-untyped"
            )
            return Promise(self, ir.Const(None), ir.TypeRef("any"), None, sub.name)
        sub_ir = sub.ir
        w = sub_ir.workflow
        for tmpl in sub_ir.tasks:
            self.register_task(tmpl, loc)
        for sw in (*sub_ir.subworkflows, w):
            prev = self.subworkflows.get(sw.name)
            if prev is not None and (prev.module, prev.qualname) != (sw.module, sw.qualname):
                self.problem(loc, f'Two different workflows are named "{sw.name}"', "typedflow-duplicate-name")
            self.subworkflows[sw.name] = sw
        target = f'workflow "{w.name}"'
        lines = argument_lines(user, len(args), list(kwargs)) if user is frame else None
        bound = self.bind_call(target, sub.params, w.inputs, sub.annotations, args, kwargs, loc, sub.kinds, lines)
        node_id = self.new_id(w.name)
        self.check_nesting(loc, self.scope.depth + 1 + ir.nesting(sub_ir))
        self.add(ir.SubWorkflowNode(node_id, w.name, tuple(bound), loc))
        return self._result(node_id, w.returns, w.name)

    def compare(self, p: Promise, op: str, other: Any, frame: FrameType) -> Cond:
        loc = frame_loc(frame)
        deps: tuple[Promise, ...] = (p,)
        left_t = self.visible(p, loc, "condition")
        if isinstance(other, Promise):
            right_t = self.visible(other, loc, "condition")
            right: ir.Binding = other._ref
            deps = (p, other)
        elif isinstance(other, enum.Enum):  # `mode == Mode.FAST`: its typed JSON, of the enum's type
            right_t = (type_ref(type(other)), False)
            right = ir.Const(other.value)
        elif isinstance(other, bool | int | float | str) or other is None:
            right_t = (_literal_type(other), False)
            right = ir.Const(other)
            # A literal is a constant of the workflow: the typed-JSON rules hold for it as for an argument (Vertex
            # compares as doubles, so 2**53 + 1 would decide as 2**53 there; an infinity has no JSON at all).
            if check_json(other, right_t[0], "literal") is not None:
                why = (
                    "the integers every target compares exactly are within ±(2**53 - 1) (Vertex compares numbers "
                    "as doubles)"
                    if isinstance(other, int)
                    else "a literal must be finite (typed JSON has no NaN or Infinity)"
                )
                self.problem(loc, f"condition {p._origin} {op} {other!r}: {why}", "typedflow-condition")
                return Cond(self, ir.Compare(op, p._ref, ir.Const(None)), deps)
        else:
            self.problem(
                loc,
                f"condition compares {p._origin} with a {type(other).__name__}; compare with a "
                "bool, int, float, str, enum member, None or another task output",
                "typedflow-condition",
            )
            return Cond(self, ir.Compare(op, p._ref, ir.Const(None)), deps)
        if left_t and right_t and not comparable(left_t[0], right_t[0], op):
            a, b = left_t[0], right_t[0]
            if op in ("==", "!="):
                why = f'values of "{a}" and "{b}" are never equal'
            elif left_t[1] or right_t[1]:  # Optional here because it comes from a branch
                why = (
                    f'"{a}" and "{b}" cannot be ordered: {(p if left_t[1] else other)._origin} comes from a when/'
                    "otherwise block and may be None after it (None has no order); compare it inside the block"
                )
            elif "optional" in (a.kind, b.kind):
                why = f'"{a}" and "{b}" cannot be ordered: None has no order'
            else:
                why = f'"{a}" and "{b}" cannot be ordered (conditions order numbers, strings, dates or datetimes)'
            self.problem(loc, f"condition {p._origin} {op} ...: {why}", _condition_code(a, b, op))
        return Cond(self, ir.Compare(op, p._ref, right), deps)

    # ------------------------------------------------------------------ blocks
    def enter_branch(self, cond: Any, frame: FrameType, kind: str) -> None:
        """``kind``: "when" starts a chain; "orwhen" and "otherwise" continue the one just closed."""
        loc = frame_loc(frame)
        condition: ir.Condition | None = None
        if kind != "when":
            builder = self.last_conditional
            if builder is None or builder.closed_otherwise:
                self.problem(
                    loc,
                    f"{kind}() must directly follow a `with when(...)` or `with orwhen(...)` block",
                    "typedflow-otherwise",
                )
                builder = _CondBuilder(self.new_id(kind), loc)
                self.scope.nodes.append(builder)
            if kind == "otherwise":
                builder.closed_otherwise = True
            else:
                condition = self.condition_of(cond, loc)
        else:
            condition = self.condition_of(cond, loc)
            builder = _CondBuilder(self.new_id("when"), loc)
            builder.after = self.waits()
            self.scope.nodes.append(builder)
        scope = Scope("branch", builder.id, self.scope)
        self.check_nesting(loc, scope.depth)
        builder.branches.append((condition, scope, loc))
        self.scope = scope

    def exit_branch(self) -> None:
        builder = self._open_builder()
        assert self.scope.parent is not None
        self.scope = self.scope.parent
        self.last_conditional = builder

    def _open_builder(self) -> _CondBuilder:
        for node in reversed(self.scope.parent.nodes if self.scope.parent else []):
            if isinstance(node, _CondBuilder) and node.id == self.scope.id:
                return node
        raise AssertionError("branch scope without its conditional")

    def condition_of(self, cond: Any, loc: ir.SourceLoc) -> ir.Condition:
        if isinstance(cond, Cond):
            return cond.ir
        if isinstance(cond, Promise):
            seen = self.visible(cond, loc, "when()")
            if seen is not None and seen[1] and seen[0].args[0].kind == "bool":
                pass  # a bool from a closed block: None when it did not run, which holds no more than False
            elif seen is not None and seen[0].kind not in ("bool", "any"):
                self.problem(
                    loc,
                    f'when() needs a bool condition; {cond._origin} is "{seen[0]}" (compare it, e.g. `when(x > 0)`)',
                    "typedflow-condition",
                )
            return ir.Compare("==", cond._ref, ir.Const(True))
        self.problem(
            loc,
            f"when() needs a condition on task outputs or workflow inputs, got {_pytype(cond)}",
            "typedflow-condition",
        )
        return ir.Compare("==", ir.Const(True), ir.Const(bool(cond)))

    def map_over(
        self,
        fn: Any,
        items: Any,
        max_concurrency: int | None,
        frame: FrameType,
        distributed: Any = False,
        tolerated_failure: Any = 0.0,
    ) -> Any:
        loc = frame_loc(frame)
        map_id = self.new_id("map")
        item_type: ir.TypeRef = ir.TypeRef("any")
        items_arg: ir.Arg | None = None
        if isinstance(items, Promise):
            seen = self.visible(items, loc, "map_over")
            if seen is not None:
                t, optional = seen
                if t.kind == "list":
                    item_type = t.args[0]
                    items_arg = ir.Arg("items", items._ref, optional)
                elif t.kind == "tuple":  # a fixed tuple is a sequence too (map_over takes tuple[T, ...])
                    joined = _tuple_element_type(t)
                    if joined is None:
                        self.problem(
                            loc,
                            f'map_over over a tuple needs elements of one type; {items._origin} is "{t}"',
                            "arg-type",
                        )
                    else:
                        item_type = joined
                        items_arg = ir.Arg("items", items._ref, optional)
                elif t.kind != "any":
                    self.problem(loc, f'map_over needs a list; {items._origin} is "{t}"', "arg-type")
        elif isinstance(items, list | tuple) and _contains_promise(items):
            self.problem(
                loc,
                f"a {'tuple' if isinstance(items, tuple) else 'list'} holding task outputs or workflow inputs "
                "cannot be passed to map_over; build it inside a @task, or take the list as a workflow input",
                "typedflow-container",
            )
        elif isinstance(items, list | tuple):
            item_type, encoded = _literal_list(items)
            if item_type.kind == "any" and items:
                self.problem(
                    loc,
                    "map_over over a literal list needs elements of one type (bool, int, float, str, an "
                    "enum or a record class: NamedTuple, attrs, dataclass); pass other lists as a workflow input",
                    "arg-type",
                )
            else:
                items_arg = ir.Arg("items", ir.Const(self.constant_files(encoded, ir.TypeRef("list", (item_type,)))))
                if not items:
                    item_type = ir.TypeRef("none")
        else:
            self.problem(loc, f"map_over needs a list, got {_pytype(items)}", "arg-type")
        lines = argument_lines(frame, None)  # (a call written over several lines: each argument's own line)
        # The map's options shape the graph on every target: written in the workflow, not values of the run.
        for option, given in (
            ("max_concurrency", max_concurrency),
            ("distributed", distributed),
            ("tolerated_failure", tolerated_failure),
        ):
            if isinstance(given, Promise | Cond):
                shown = given._origin if isinstance(given, Promise) else "a condition"
                line = lines.get(option)
                self.problem(
                    loc if line is None else ir.SourceLoc(loc.file, line),
                    f"map_over {option} is written in the workflow (a constant), not a value of the run: got "
                    f"{_described_value(shown)}",
                    "arg-type",
                )
        if isinstance(max_concurrency, Promise | Cond):
            max_concurrency = None
        if isinstance(distributed, Promise | Cond):
            distributed = False
        if isinstance(tolerated_failure, Promise | Cond):
            tolerated_failure = 0.0
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
            self.problem(loc, "map_over max_concurrency must be a positive int", "arg-type")
            max_concurrency = None
        if distributed not in (True, False, "auto"):
            self.problem(loc, 'map_over distributed must be True, False or "auto"', "arg-type")
            distributed = False
        if (
            isinstance(tolerated_failure, bool)
            or not isinstance(tolerated_failure, int | float)
            or not 0 <= tolerated_failure <= 1
        ):
            self.problem(
                loc, "map_over tolerated_failure must be a number from 0 to 1 (a share of the items)", "arg-type"
            )
            tolerated_failure = 0.0
        scope = Scope("map", map_id, self.scope)
        self.check_nesting(loc, scope.depth)
        builder = _MapBuilder(
            map_id, items_arg or ir.Arg("items", ir.Const([])), item_type, scope, loc, max_concurrency
        )
        builder.distributed, builder.tolerated_failure = distributed, float(tolerated_failure)
        self.add(builder)
        outer, mapped_at = self.scope, self.mapped_at
        self.scope = scope
        fn_line = lines.get(0, lines.get("fn"))
        self.mapped_at = loc if fn_line is None else ir.SourceLoc(loc.file, fn_line)
        try:
            item = Promise(self, ir.ItemRef(map_id), item_type, scope, "map_over item")
            result = fn(item)
        finally:
            self.scope, self.mapped_at = outer, mapped_at
        self.last_conditional = None
        if isinstance(result, Promise):
            self.scope = scope
            seen = self.visible(result, loc, "map_over result")
            self.scope = outer
            if seen is not None:
                builder.result, builder.result_type = result._ref, seen[0]
        elif result is None:
            builder.result, builder.result_type = ir.Const(None), ir.TypeRef("none")
        elif (record := _record_type(result)) is not None:
            self.scope = scope
            try:
                lines = returned_arguments(fn) if getattr(fn, "__name__", "<lambda>") != "<lambda>" else {}
                builder.result, builder.result_type = self._record_result(result, record, _result_loc(fn, loc), lines)
            finally:
                self.scope = outer
        else:
            self.problem(
                loc,
                "map_over's function must return a task output or a record (NamedTuple, attrs class, dataclass) "
                f"of them, got {_pytype(result)}",
                "return-value",
            )
            builder.result_type = ir.TypeRef("any")
        if builder.result_type.kind == "any":  # its body already had an error: no follow-on errors
            return Promise(self, ir.Const(None), ir.TypeRef("any"), None, "map_over()")
        if builder.tolerated_failure and builder.result_type.kind not in ("optional", "none"):
            self.problem(
                loc,
                f"map_over with tolerated_failure gives None for a failed item: its function must return an Optional "
                f'(it returns "{builder.result_type}")',
                "return-value",
            )
        return Promise(
            self, ir.OutputRef(map_id, "out"), ir.TypeRef("list", (builder.result_type,)), outer, "map_over()", map_id
        )

    def _record_result(
        self, value: Any, t: ir.TypeRef, loc: ir.SourceLoc, lines: dict[int | str, int] | None = None
    ) -> tuple[ir.RecordOf | ir.Const, ir.TypeRef]:
        """A record the map body built of its values (``Pair(inc(x), dec(x))``): each field bound like a
        task argument, against the field's declared type, and reported on its argument's line (``lines``,
        when the body returns the record's construction). The record type, or ``any`` after an error."""
        lines = lines or {}
        hints = _hints(type(value))
        target = f'record "{type(value).__name__}"'
        fields: list[ir.Arg] = []
        ok = True
        for i, f in enumerate(t.fields):
            given = getattr(value, f.name, None)
            if isinstance(given, Promise) and given._poison:  # already reported where it was produced
                ok = False
                continue
            line = lines.get(f.name, lines.get(i))
            where = loc if line is None else ir.SourceLoc(loc.file, line)
            arg = self.bind(f.name, given, f.type, hints.get(f.name), where, target)
            ok = ok and arg is not None
            if arg is not None:
                fields.append(arg)
        return (ir.RecordOf(tuple(fields)), t) if ok else (ir.Const(None), ir.TypeRef("any"))

    # ------------------------------------------------------------------ finishing
    def freeze(self, nodes: list[Any]) -> tuple[ir.Node, ...]:
        out: list[ir.Node] = []
        for n in nodes:
            if isinstance(n, _CondBuilder):
                branches = tuple(ir.Branch(c, self.freeze(s.nodes), loc) for c, s, loc in n.branches)
                out.append(ir.ConditionalNode(n.id, branches, n.loc, after=n.after))
            elif isinstance(n, _MapBuilder):
                out.append(
                    ir.MapNode(
                        n.id,
                        n.items,
                        n.item_type,
                        self.freeze(n.scope.nodes),
                        n.result,
                        n.result_type,
                        n.max_concurrency,
                        n.loc,
                        after=n.after,
                        distributed=n.distributed,
                        tolerated_failure=n.tolerated_failure,
                    )
                )
            elif isinstance(n, _ExitBuilder):
                if n.handler is not None:
                    out.append(ir.ExitHandlerNode(n.id, self.freeze(n.scope.nodes), n.handler, n.loc, after=n.after))
                else:  # its handler had errors (reported): the body stands alone
                    out.extend(self.freeze(n.scope.nodes))
            else:
                out.append(n)
        return tuple(out)


_PLAIN = frozenset({"bool", "int", "float", "str", "enum", "none"})


def _condition_code(a: ir.TypeRef, b: ir.TypeRef, op: str) -> str:
    """The code of a comparison no condition may make: mypy's, where mypy reports it too (plain values of
    unrelated types: ``comparison-overlap`` for ==/!=, ``operator`` for an ordering), so that both checkers
    name one defect alike; ``typedflow-condition`` for the rest (dates, containers, records)."""
    plain = all((t.args[0] if t.kind == "optional" else t).kind in _PLAIN for t in (a, b))
    if not plain:
        return "typedflow-condition"
    return "comparison-overlap" if op in ("==", "!=") else "operator"


def user_frame(frame: FrameType) -> FrameType:
    """The nearest frame outside typedflow (a task passed straight to map_over is called from here)."""
    f: FrameType | None = frame
    while f is not None and f.f_code.co_filename.startswith(_TYPEDFLOW_DIR):
        f = f.f_back
    return f or frame


def _contains_promise(v: Any) -> bool:
    if isinstance(v, Promise | Cond):
        return True
    if isinstance(v, list | tuple | set):
        return any(_contains_promise(x) for x in v)
    if isinstance(v, dict):
        return any(_contains_promise(x) for x in v.values())
    if attrs.has(type(v)):
        return any(_contains_promise(getattr(v, a.name, None)) for a in attrs.fields(type(v)))
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return any(_contains_promise(getattr(v, f.name, None)) for f in dataclasses.fields(v))
    return False


def _described_value(origin: str) -> str:
    """How a message names a placeholder: ``input "n"`` is a workflow input, ``train()`` a task output."""
    if origin.startswith("input "):
        return f"workflow {origin}"
    return origin if origin.startswith(("map_over item", "a condition")) else f"task output {origin}"


def _handle_type(v: Any) -> ir.TypeRef | None:
    """The type of a file or directory handle written in the workflow with a format of its own
    (``TypedFile.from_path(p, format=CSV)``); None for other values and for a handle of no format, which takes
    the declared format where it is passed."""
    from typedflow.files import TypedDirectory, TypedFile
    from typedflow.formats import Format

    if not isinstance(v, TypedFile | TypedDirectory) or v.format is Format:
        return None
    generic: Any = type(v)
    try:
        return type_ref(generic[v.format])
    except Exception:
        return None


def _is_failure(t: ir.TypeRef) -> bool:
    return t.kind == "record" and t.name == "typedflow.dsl.failure:Failure"


def _record_type(v: Any) -> ir.TypeRef | None:
    """The record type of ``v`` when it is a NamedTuple, attrs or dataclass instance typedflow can carry."""
    cls = type(v)
    if not (is_namedtuple(cls) or attrs.has(cls) or (dataclasses.is_dataclass(cls) and not isinstance(v, type))):
        return None
    try:
        t = type_ref(cls)
    except Exception:
        return None
    return t if t.kind == "record" else None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved: constants are then checked by value
        return {}


def _result_loc(fn: Any, loc: ir.SourceLoc) -> ir.SourceLoc:
    """Where ``fn``, a map body, returns: its last ``return`` line (a lambda: where it is written)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return loc
    file = stable_path(code.co_filename, getattr(fn, "__module__", None))
    lines = [] if fn.__name__ == "<lambda>" else return_lines(fn)
    return ir.SourceLoc(file, lines[-1] if lines else code.co_firstlineno)


def _pytype(v: Any) -> str:
    if v is None:
        return "None"
    try:
        return str(type_ref(type(v)))
    except Exception:
        return type(v).__name__


def _literal_type(v: Any) -> ir.TypeRef:
    if v is None:
        return ir.TypeRef("none")
    kinds: dict[type, ir.TypeKind] = {bool: "bool", int: "int", float: "float", str: "str"}
    return ir.TypeRef(kinds[type(v)])


def _literal_list(items: Sequence[Any]) -> tuple[ir.TypeRef, list[Any]]:
    """The element type of a literal list of ``map_over`` items, and its typed JSON."""
    kinds = {type(x) for x in items}
    if len(kinds) == 1:
        (cls,) = kinds
        if isinstance(items[0], enum.Enum) or attrs.has(cls) or dataclasses.is_dataclass(cls) or is_namedtuple(cls):
            from typedflow.ir.values import encode

            try:
                t = type_ref(cls)
                data = [encode(x, cls) for x in items]
            except Exception:  # a record type typedflow cannot carry: reported as not one simple type
                return ir.TypeRef("any"), []
            if all(check_json(d, t) is None for d in data):
                return t, data
            return ir.TypeRef("any"), []
    t = _literal_list_type(items)
    return t, list(items)


def _tuple_element_type(t: ir.TypeRef) -> ir.TypeRef | None:
    """The element type of a fixed tuple as mypy joins it for ``map_over(fn, items: tuple[T, ...])``, where
    the join is one of the elements (``tuple[bool, int]``: int) or its Optional (``tuple[int, None]``);
    None when it is not (``tuple[int, str]``: object, which no task parameter takes)."""
    wider = [ir.TypeRef("optional", (a,)) for a in t.args if a.kind not in ("none", "optional")]
    for candidate in (*t.args, *wider):
        if all(assignable(a, candidate) for a in t.args):
            return candidate
    return None


def _literal_list_type(items: Sequence[Any]) -> ir.TypeRef:
    kinds = {type(x) for x in items}
    if kinds <= {bool}:
        return ir.TypeRef("bool")
    if kinds <= {int}:
        return ir.TypeRef("int")
    if kinds <= {int, float}:
        return ir.TypeRef("float")
    if kinds <= {str}:
        return ir.TypeRef("str")
    return ir.TypeRef("any")


def _body_frame(tb: TracebackType | None, body: Callable[..., Any]) -> TracebackType | None:
    """The innermost traceback entry running code of the workflow body: the body's own, or a function
    defined in it (a ``map_over`` body)."""
    code: CodeType | None = getattr(body, "__code__", None)
    if code is None:
        return None
    first, last = code.co_firstlineno, max((line for _, _, line in code.co_lines() if line), default=0)
    found = None
    while tb is not None:
        c = tb.tb_frame.f_code
        if c.co_filename == code.co_filename and first <= c.co_firstlineno <= last:
            found = tb
        tb = tb.tb_next
    return found


def _user_frame_loc(tb: TracebackType | None, body: Callable[..., Any]) -> ir.SourceLoc | None:
    """Where the body raised: in the body's own code if it can be told, else the innermost frame that is
    not typedflow's (a library's frames are not where the user wrote anything)."""
    mine = _body_frame(tb, body)
    if mine is not None:
        return ir.SourceLoc(frame_loc(mine.tb_frame).file, mine.tb_lineno)
    loc = None
    for frame, lineno in traceback.walk_tb(tb):
        if not frame.f_code.co_filename.startswith(_TYPEDFLOW_DIR):
            loc = ir.SourceLoc(frame_loc(frame).file, lineno)
    return loc


def _output_given(tb: TracebackType | None, body: Callable[..., Any]) -> tuple[str, Promise] | None:
    """The function that is not typedflow's which the body called with a task output and which raised
    (``json.dumps(output)``), and that output; None for any other exception of the body."""
    mine = _body_frame(tb, body)
    callee = mine.tb_next.tb_frame if mine is not None and mine.tb_next is not None else None
    if callee is None or callee.f_code.co_filename.startswith(_TYPEDFLOW_DIR):
        return None  # a builtin's own error, or typedflow's calls, which report their errors themselves
    code = callee.f_code
    n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
    for name in code.co_varnames[:n]:
        v = callee.f_locals.get(name)
        for x in v.values() if isinstance(v, dict) else v if isinstance(v, tuple) else (v,):
            if isinstance(x, Promise):
                return code.co_qualname, x
    return None


def _return_loc(wf: Workflow[Any, Any]) -> ir.SourceLoc:
    lines = return_lines(wf.fn)
    base = func_loc(wf.fn)
    return ir.SourceLoc(base.file, lines[-1]) if lines else base


def trace(
    wf: Workflow[Any, Any], params: list[ir.Param], returns: ir.TypeRef | None, problems: list[Problem]
) -> ir.WorkflowIR:
    """Run the workflow body on placeholders; return its IR or raise every error at once."""
    tracer = Tracer(wf, problems)
    loc = func_loc(wf.fn)
    cut_short = returns_in_branches(wf.fn)
    for line in cut_short:
        tracer.problem(ir.SourceLoc(loc.file, line), RETURN_IN_BRANCH, "typedflow-return-in-branch")
    inputs = {p.name: Promise(tracer, ir.InputRef(p.name), p.type, None, f'input "{p.name}"') for p in params}
    active.push(tracer)
    try:
        try:
            first = [inputs[k] for k in wf.params if k in wf.kinds.positional_only]
            value = wf.fn(*first, **{k: inputs[k] for k in wf.params if k not in wf.kinds.positional_only})
        except Exception as exc:
            where = _user_frame_loc(exc.__traceback__, wf.fn) or loc
            given = _output_given(exc.__traceback__, wf.fn)
            if given is not None:  # `json.dumps(output)`: what mypy's plugin reports there too
                name, output = given
                tracer.problem(
                    where,
                    f'{_described_value(output._origin)} is passed to "{name}", which is not a task, inside a '
                    f"workflow, and it raised {type(exc).__name__}: {exc}; only tasks, workflows, map_over, when, "
                    f'after and exit_handler take task outputs (make "{name}" a @task); the rest of the body '
                    "is not checked",
                    "typedflow-call",
                )
            elif isinstance(exc, NameError) and exc.name == wf.fn.__name__:
                # Traced as it is defined, the workflow's own name is not bound yet.
                tracer.problem(
                    where,
                    f"workflow {wf.name!r} calls itself; a workflow is a finite graph, so "
                    "recursion is not supported (unroll it, or use map_over)",
                    "typedflow-trace",
                )
            else:
                tracer.problem(where, f"workflow body raised {type(exc).__name__}: {exc}", "typedflow-trace")
            value = None
            returns = None
    finally:
        active.pop()
    results: list[ir.Arg] = []
    outputs: tuple[ir.Param, ...] = ()
    if returns is not None:
        outputs = outputs_of(returns)
        if not cut_short:  # else what was returned is not what the function means: no follow-on errors
            results = _bind_results(tracer, wf, value, returns, outputs, _return_loc(wf))
    # Workflow options are reported where they are written: the decorator line.
    deco = ir.SourceLoc(loc.file, wf.fn.__code__.co_firstlineno)
    on_failure = _on_failure(tracer, wf, params, deco)
    if wf.schedule is not None and not _CRON.match(wf.schedule.strip()):
        tracer.problem(deco, f'schedule "{wf.schedule}" is not a 5-field cron expression', "typedflow-schedule")
    if problems:
        raise WorkflowDefinitionError(wf.name, sorted(problems, key=lambda p: (p.loc.file, p.loc.line)))
    workflow = ir.Workflow(
        name=wf.name,
        inputs=tuple(params),
        outputs=outputs,
        returns=returns or ir.TypeRef("none"),
        results=tuple(results),
        nodes=tracer.freeze(tracer.root.nodes),
        loc=loc,
        module=wf.fn.__module__,
        qualname=wf.fn.__qualname__,
        schedule=wf.schedule,
        on_failure=on_failure,
        environment=wf.environment.to_ir() if wf.environment is not None else None,
    )
    doc = ir.WorkflowIR(
        workflow=workflow,
        tasks=tuple(sorted(tracer.tasks.values(), key=lambda t: t.name)),
        subworkflows=tuple(sorted(tracer.subworkflows.values(), key=lambda w: w.name)),
        typedflow_version=__version__,
        python_version=platform.python_version(),
    )
    from typedflow.ir.codec import with_digest

    return with_digest(doc)


def _bind_results(
    tracer: Tracer,
    wf: Workflow[Any, Any],
    value: Any,
    returns: ir.TypeRef,
    outputs: tuple[ir.Param, ...],
    loc: ir.SourceLoc,
) -> list[ir.Arg]:
    target = f'workflow "{wf.name}"'
    if returns.kind == "none":
        if value is not None and not (isinstance(value, Promise) and value._type.kind in ("none", "any")):
            tracer.problem(loc, f'No return value expected from {target} (declared "-> None")', "return-value")
        return []
    if isinstance(value, Promise):
        if value._poison:  # already reported where it was produced
            return []
        seen = tracer.visible(value, loc, "return value")
        if seen is None:
            return []
        if not assignable(seen[0], returns):
            columns = columns_mismatch(seen[0], returns)
            tracer.problem(
                loc,
                f'Incompatible return value type (got "{seen[0]}" from {value._origin}, expected "{returns}")'
                + (f": {columns}" if columns else ""),
                "return-value",
            )
            return []
        if returns.kind == "record" and returns.flavor == "namedtuple":
            ref = value._ref
            out = []
            for p in outputs:
                if isinstance(ref, ir.OutputRef) and ref.output is None:
                    b: ir.Binding = ir.OutputRef(ref.node, p.name)
                elif isinstance(ref, ir.OutputRef | ir.InputRef | ir.ItemRef):
                    b = attrs.evolve(ref, path=(*ref.path, p.name))
                else:
                    b = ir.Const(None)
                out.append(ir.Arg(p.name, b, seen[1]))
            return out
        return [ir.Arg("out", value._ref, seen[1])]
    if returns.kind == "record" and returns.flavor == "namedtuple" and hasattr(value, "_fields"):
        # A record built in the workflow to be returned (`return Report(acc, name=n)`): each field is an argument
        # of its constructor, checked and reported as mypy does (arg-type, on the argument's line).
        out = []
        hints = getattr(type(value), "__annotations__", {})
        lines = returned_arguments(wf.fn)
        for i, p in enumerate(outputs):
            line = lines.get(p.name, lines.get(i))
            arg = tracer.bind(
                p.name,
                getattr(value, p.name, None),
                p.type,
                hints.get(p.name),
                loc if line is None else ir.SourceLoc(loc.file, line),
                f'"{type(value).__name__}"',
            )
            if arg is not None:
                out.append(arg)
        return out
    arg = tracer.bind(
        "out", value, returns, wf.returns_annotation, loc, f"return value of {target}", code="return-value"
    )
    return [arg] if arg is not None else []


def _on_failure(
    tracer: Tracer, wf: Workflow[Any, Any], params: list[ir.Param], loc: ir.SourceLoc
) -> ir.OnFailure | None:
    t = wf.on_failure
    if t is None:
        return None
    if not isinstance(t, Task) or t.signature.template is None:
        tracer.problem(loc, "on_failure must be a @task with a valid signature", "typedflow-on-failure")
        return None
    template = t.signature.template
    tracer.register_task(template, loc)
    by_name = {p.name: p for p in params}
    args = []
    for p in template.inputs:
        if p.type.kind == "record" and p.type.name == "typedflow.dsl.failure:Failure":
            args.append(ir.Arg(p.name, ir.FailureRef()))
        elif p.name in by_name and assignable(by_name[p.name].type, p.type):
            args.append(ir.Arg(p.name, ir.InputRef(p.name)))
        elif p.has_default:
            args.append(ir.Arg(p.name, ir.Const(p.default)))
        else:
            tracer.problem(
                loc,
                f'on_failure task "{t.name}": parameter "{p.name}" is neither a Failure, a '
                "workflow input of a compatible type, nor defaulted",
                "typedflow-on-failure",
            )
    return ir.OnFailure(template.name, tuple(args), loc)


__all__ = ["Scope", "Tracer", "trace", "user_frame"]
