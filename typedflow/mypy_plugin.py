"""mypy plugin: the rules of ``@workflow`` bodies, reported by mypy before anything runs.

Enable it in ``pyproject.toml``::

    [tool.mypy]
    plugins = ["typedflow.mypy_plugin"]

Inside a function decorated with ``typedflow.workflow`` (bare or called with options), a task
output is a placeholder for a value that exists only when the workflow runs. The plugin reports
what the definition-time checker (:mod:`typedflow.dsl.tracing`) reports for such placeholders, under
the same codes: truth tests, loops, arithmetic, ``len``, indexing, string formatting, passing them
to plain functions, reading attributes that are not record fields, containers of them, and values
produced inside a ``when``/``otherwise`` block used after it where ``None`` is not accepted. It also
applies the column rule of typed tables (:mod:`typedflow.tables.rule`) where a table file is passed to
a task or returned: for plain mypy every column schema is assignable to every other (see
:mod:`typedflow.tables.columns`), so the plugin reports a schema that lacks a column, or has it with
another type, as ``arg-type`` / ``return-value``, the codes mypy gives any other incompatible type.

Mechanism: the function hook of ``typedflow.dsl.workflows.workflow`` runs when mypy applies the decorator.
mypy 2 applies decorators while checking module interfaces, before it checks function bodies, so
the hook cannot read inferred expression types; it walks the semantically analysed body once, in
order, and derives what it needs itself: which local names hold task outputs and of which type
(the ``R`` of ``Task[P, R]``, a record's field types, a workflow parameter's annotation). Callees
are resolved through their symbols (a ``Task``/``Workflow`` object, a NamedTuple/attrs/dataclass
class, a plain function). ``workflow`` is overloaded, and mypy picks an overload variant with
errors filtered, taking "no new error" as "this variant matches" and never re-checking the winner
(python/mypy#7367); the hook therefore reports with those filters set aside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, NamedTuple

import mypy.plugin  # first, like mypy's own plugins: its modules import each other in cycles
from mypy.argmap import map_actuals_to_formals
from mypy.checker import TypeChecker
from mypy.errorcodes import ARG_TYPE, ATTR_DEFINED, CALL_ARG, OPERATOR, RETURN_VALUE, ErrorCode
from mypy.maptype import map_instance_to_supertype
from mypy.messages import format_type
from mypy.nodes import (
    ARG_NAMED,
    ARG_POS,
    ARG_STAR,
    ARG_STAR2,
    ArgKind,
    AssertStmt,
    AssignmentExpr,
    AssignmentStmt,
    AwaitExpr,
    Block,
    CallExpr,
    CastExpr,
    ClassDef,
    ComparisonExpr,
    ConditionalExpr,
    Context,
    Decorator,
    DelStmt,
    DictExpr,
    DictionaryComprehension,
    Expression,
    ExpressionStmt,
    FloatExpr,
    ForStmt,
    FuncDef,
    FuncItem,
    GeneratorExpr,
    IfStmt,
    IndexExpr,
    IntExpr,
    LambdaExpr,
    ListComprehension,
    ListExpr,
    MatchStmt,
    MemberExpr,
    MypyFile,
    NameExpr,
    OperatorAssignmentStmt,
    OpExpr,
    OverloadedFuncDef,
    RaiseStmt,
    RefExpr,
    ReturnStmt,
    SetComprehension,
    SetExpr,
    SliceExpr,
    StarExpr,
    Statement,
    StrExpr,
    TryStmt,
    TupleExpr,
    TypeInfo,
    UnaryExpr,
    Var,
    WhileStmt,
    WithStmt,
    YieldExpr,
    YieldFromExpr,
)
from mypy.subtypes import is_subtype
from mypy.typeops import type_object_type
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    NoneType,
    Parameters,
    ProperType,
    TupleType,
    Type,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

WORKFLOW_DECORATOR: Final = "typedflow.dsl.workflows.workflow"
_DSL_DECORATORS: Final = frozenset({WORKFLOW_DECORATOR, "typedflow.dsl.tasks.task"})
TASK_CLASS: Final = "typedflow.dsl.tasks.Task"
WORKFLOW_CLASS: Final = "typedflow.dsl.workflows.Workflow"
MAP_OVER: Final = "typedflow.dsl.blocks.map_over"
WHEN: Final = "typedflow.dsl.blocks.when"
OTHERWISE_FN: Final = "typedflow.dsl.blocks.otherwise"
ORWHEN: Final = "typedflow.dsl.blocks.orwhen"
BRANCHES: Final = frozenset({WHEN, ORWHEN, OTHERWISE_FN})
AFTER: Final = "typedflow.dsl.blocks.after"
EXIT_HANDLER: Final = "typedflow.dsl.blocks.exit_handler"
ONE_OF: Final = "typedflow.dsl.blocks.one_of"
FAIL: Final = "typedflow.dsl.blocks.fail"
# attrs classes, but artifact handles rather than records: the tracer gives them no fields.
ARTIFACTS: Final = frozenset({"typedflow.files.TypedFile", "typedflow.files.TypedDirectory"})
NEW_HANDLES: Final = frozenset(f"{a}.new" for a in ARTIFACTS)
FROM_PATHS: Final = frozenset(f"{a}.from_path" for a in ARTIFACTS)
ROOT_FORMAT: Final = "typedflow.formats.Format"
TABULAR: Final = "typedflow.formats.Tabular"
COLUMNS: Final = "typedflow.tables.columns.Columns"
_COLUMN_TYPES: Final = {
    "builtins.bool": "bool",
    "builtins.int": "int",
    "builtins.float": "float",
    "builtins.str": "str",
    "builtins.bytes": "bytes",
    "datetime.date": "date",
    "datetime.datetime": "datetime",
    "decimal.Decimal": "decimal",
}

_CATEGORY: Final = "typedflow"
TRUTHINESS: Final = ErrorCode("typedflow-truthiness", "Truth-testing a task output in a workflow", _CATEGORY)
ITERATION: Final = ErrorCode("typedflow-iteration", "Iterating over a task output in a workflow", _CATEGORY)
ARITHMETIC: Final = ErrorCode("typedflow-arithmetic", "Arithmetic on a task output in a workflow", _CATEGORY)
LEN: Final = ErrorCode("typedflow-len", "len() of a task output in a workflow", _CATEGORY)
INDEX: Final = ErrorCode("typedflow-index", "Indexing a task output in a workflow", _CATEGORY)
FORMAT: Final = ErrorCode("typedflow-format", "Formatting a task output in a workflow", _CATEGORY)
CALL: Final = ErrorCode("typedflow-call", "A task output given to a plain function in a workflow", _CATEGORY)
BRANCH_OUTPUT: Final = ErrorCode(
    "typedflow-branch-output", "A when/otherwise block's output used where None is not accepted", _CATEGORY
)
CONTAINER: Final = ErrorCode("typedflow-container", "A container of task outputs given to a task", _CATEGORY)
CONDITION: Final = ErrorCode("typedflow-condition", "when() without a condition on task outputs", _CATEGORY)
OTHERWISE: Final = ErrorCode("typedflow-otherwise", "otherwise() not right after a when() block", _CATEGORY)
AFTER_CODE: Final = ErrorCode("typedflow-after", "after() given something other than a task output", _CATEGORY)
ONE_OF_CODE: Final = ErrorCode("typedflow-one-of", "one_of() not given every branch's value of one chain", _CATEGORY)
RETURN_IN_BRANCH: Final = ErrorCode(
    "typedflow-return-in-branch", "A return inside a when/otherwise block of a workflow", _CATEGORY
)
RETURN_IN_BRANCH_MESSAGE: Final = (
    "return inside a `with when(...)` / `with otherwise()` block: the workflow is traced once, so the code "
    "after the block would silently not be part of it; assign the value and return it after the block"
)

_HINTS: Final = {
    TRUTHINESS.code: 'branch with "with when(cond):" / "with otherwise():" (combine conditions with & and |)',
    ITERATION.code: 'use "map_over(fn, items)" to run a task per element',
    ARITHMETIC.code: "compute it inside a @task",
    LEN.code: "compute it inside a @task",
    INDEX.code: 'select the element inside a @task, or use "map_over(fn, items)"',
    FORMAT.code: "format it inside a @task",
}
_WHAT: Final = {
    TRUTHINESS.code: "Truth-testing",
    ITERATION.code: "Iterating over",
    ARITHMETIC.code: "Arithmetic on",
    LEN.code: '"len()" of',
    INDEX.code: "Indexing",
    FORMAT.code: "Formatting",
}

# Builtins whose use of a placeholder is one of the misuses above rather than a plain call: the
# tracer sees them through the placeholder's special methods (__len__, __str__, __float__, ...).
_BUILTIN_USE: Final = {
    "builtins.len": LEN,
    "builtins.str": FORMAT,
    "builtins.format": FORMAT,
    "builtins.print": FORMAT,
    "builtins.bool": TRUTHINESS,
    **{f"builtins.{n}": ARITHMETIC for n in ("int", "float", "complex", "abs", "round", "divmod", "pow")},
    **{
        f"builtins.{n}": ITERATION
        for n in (
            "list",
            "tuple",
            "set",
            "frozenset",
            "dict",
            "sorted",
            "reversed",
            "enumerate",
            "zip",
            "sum",
            "any",
            "all",
            "iter",
            "map",
            "filter",
            "min",
            "max",
        )
    },
}
# Builtins that combine the elements of a display they are given: sum() adds them, any()/all() truth-test
# them, min()/max()/sorted() compare them (a comparison that is then truth-tested).
_COMPARING: Final = frozenset({"builtins.min", "builtins.max", "builtins.sorted"})
_REDUCERS: Final = {
    "builtins.sum": ARITHMETIC,
    "builtins.any": TRUTHINESS,
    "builtins.all": TRUTHINESS,
    **dict.fromkeys(_COMPARING, TRUTHINESS),
}
_MAP_OPTIONS: Final = frozenset({"max_concurrency", "distributed", "tolerated_failure"})
_FILLING: Final = frozenset(
    {"append", "extend", "insert", "add", "update", "setdefault"}
)  # put values into a container
_ARITHMETIC_OPS: Final = frozenset({"+", "-", "*", "/", "//", "%", "**", "@", "<<", ">>", "&", "|", "^"})
_CONTAINERS: Final = {ListExpr: "list", TupleExpr: "tuple", SetExpr: "set", DictExpr: "dict"}
# builtins that copy a container into a new one (`list(by_name.values())`): for the tracer a new container
_COPIES: Final = {
    "builtins.list": "list",
    "builtins.tuple": "tuple",
    "builtins.set": "set",
    "builtins.frozenset": "set",
    "builtins.dict": "dict",
}
_VIEWS: Final = frozenset({"values", "items", "copy"})  # methods giving a container's outputs on

_Signature = tuple[Sequence[Type], list[ArgKind], Sequence[str | None]]
_RETURN: Final = "the return value"


class _Out(NamedTuple):
    """What the tracer holds for an expression: a placeholder for a run-time value."""

    label: str  # how messages name it, e.g. 'task output "train()"'
    type: Type | None = None  # its static type, when known
    cond: bool = False  # a comparison of placeholders (the tracer's condition object)
    branch: WithStmt | None = None  # the when/otherwise block that produced it


class TypedflowPlugin(mypy.plugin.Plugin):
    """Checks ``@workflow`` bodies (see the module docstring)."""

    def get_function_hook(self, fullname: str) -> Callable[[mypy.plugin.FunctionContext], Type] | None:
        if fullname == WORKFLOW_DECORATOR:
            return workflow_decorator_hook
        return None

    def get_method_hook(self, fullname: str) -> Callable[[mypy.plugin.MethodContext], Type] | None:
        if fullname in NEW_HANDLES:
            return new_handle_hook
        if fullname in FROM_PATHS:
            return from_path_hook
        return None


def from_path_hook(ctx: mypy.plugin.MethodContext) -> Type:
    """``TypedFile.from_path(p)`` on the bare class and with no ``format=``, where no type context gives the
    format (``RAW = TypedFile.from_path(p)``): a handle of any format (``TypedFile[Any]``), as at definition
    time, where such a file takes the format of the parameter it is given to."""
    made = _root_format_handle(ctx)
    call = ctx.context
    if not (
        made is not None
        and isinstance(call, CallExpr)
        and "format" not in call.arg_names
        and all(k in (ARG_POS, ARG_NAMED) for k in call.arg_kinds)  # (a `**options` may give one)
    ):
        return ctx.default_return_type
    return made.copy_modified(args=[AnyType(TypeOfAny.special_form)])


def _root_format_handle(ctx: mypy.plugin.MethodContext) -> Instance | None:
    """The handle a classmethod of ``TypedFile``/``TypedDirectory`` called on the bare class makes, when mypy
    gives it the root format (no type context gave another); None otherwise, e.g. for ``TypedFile[CSV].new()``,
    which names its format."""
    made = get_proper_type(ctx.default_return_type)
    if not (isinstance(made, Instance) and made.type.fullname in ARTIFACTS and len(made.args) == 1):
        return None
    fmt = get_proper_type(made.args[0])
    call = ctx.context
    bare = isinstance(call, CallExpr) and isinstance(call.callee, MemberExpr) and isinstance(call.callee.expr, RefExpr)
    return made if bare and isinstance(fmt, Instance) and fmt.type.fullname == ROOT_FORMAT else None


def new_handle_hook(ctx: mypy.plugin.MethodContext) -> Type:
    """``TypedFile.new()`` on the bare class, with no type context to give the format (``out =
    TypedFile.new(suffix=".csv")``, written, then returned): the format of the enclosing function's
    declared return type, when that is a ``TypedFile`` (or ``TypedDirectory``) of some format."""
    made = _root_format_handle(ctx)
    api = ctx.api
    if made is None or not isinstance(api, TypeChecker):
        return ctx.default_return_type
    if not api.return_types:
        return ctx.default_return_type
    declared = get_proper_type(api.return_types[-1])
    for option in declared.items if isinstance(declared, UnionType) else [declared]:
        p = get_proper_type(option)
        if isinstance(p, Instance) and p.type is made.type and len(p.args) == 1:
            return p
    return ctx.default_return_type


def workflow_decorator_hook(ctx: mypy.plugin.FunctionContext) -> Type:
    """Check the body of the function ``workflow`` decorates; the decorator's type is unchanged."""
    api = ctx.api
    if isinstance(api, TypeChecker):
        func = _decorated_function(api, ctx.context)
        if func is not None:
            with _unfiltered(api):
                _BodyChecker(api, func).check()
    return ctx.default_return_type


def _decorated_function(api: TypeChecker, context: Context) -> FuncDef | None:
    # ``@workflow`` is applied with its Decorator as context; in ``@workflow(...)`` the call is
    # evaluated on its own, so its Decorator is looked up in the module.
    if isinstance(context, Decorator):
        return context.func
    if isinstance(context, CallExpr) and isinstance(api.tree, MypyFile):
        found = _find_decorator(api.tree.defs, context)
        if found is not None:
            return found.func
    return None


def _find_decorator(statements: Sequence[Statement], call: CallExpr) -> Decorator | None:
    """The decorated definition among ``statements`` (at any depth) that ``call`` decorates."""
    for s in statements:
        if isinstance(s, Decorator) and any(d is call for d in s.decorators):
            return s
        for block in _blocks(s):
            found = _find_decorator(block.body, call)
            if found is not None:
                return found
    return None


def _blocks(s: Statement) -> list[Block]:
    """The blocks directly inside a statement."""
    if isinstance(s, Decorator):
        return [s.func.body]
    if isinstance(s, FuncDef):
        return [s.body]
    if isinstance(s, ClassDef):
        return [s.defs]
    if isinstance(s, Block):
        return [s]
    if isinstance(s, IfStmt):
        return [*s.body, *_present(s.else_body)]
    if isinstance(s, WhileStmt | ForStmt):
        return [s.body, *_present(s.else_body)]
    if isinstance(s, WithStmt):
        return [s.body]
    if isinstance(s, TryStmt):
        return [s.body, *s.handlers, *_present(s.else_body), *_present(s.finally_body)]
    return []


def _present(b: Block | None) -> list[Block]:
    return [] if b is None else [b]


@contextmanager
def _unfiltered(api: TypeChecker) -> Iterator[None]:
    # While mypy tries overload variants every error is dropped and makes the variant fail to
    # match (python/mypy#7367): set the error watchers aside while this hook reports.
    watchers = getattr(api.msg.errors, "_watchers", None)
    if not isinstance(watchers, list):
        yield
        return
    held = list(watchers)
    watchers.clear()
    try:
        yield
    finally:
        watchers[:] = held


class _BodyChecker:
    """Walks one workflow body in order, tracking which local names hold task outputs."""

    def __init__(self, api: TypeChecker, func: FuncDef) -> None:
        self.api = api
        self.func = func
        self.outputs: dict[Var, _Out] = {}
        self.branches: list[WithStmt] = []  # the when/otherwise blocks open at this point
        self.chains: dict[WithStmt, list[WithStmt]] = {}  # a when/orwhen/otherwise block -> its whole chain
        self.local_functions: list[FuncItem] = []  # functions defined in the body so far
        self.depth = 0  # > 0 inside one of them
        self.returns_from = 0  # the branches open where the innermost function began (its returns may follow them)
        self.values: dict[Expression, _Out] = {}  # every expression found to be a placeholder
        self.item_types: dict[Expression, Type] = {}  # a map_over lambda -> the element type of its items
        self.holders: dict[Var, tuple[str, bool]] = {}  # a local container -> its kind, whether it holds outputs

    def check(self) -> None:
        self.bind_parameters(self.func, "workflow input")
        self.block(self.func.body)

    def bind_parameters(self, fn: FuncItem, what: str) -> None:
        sig = fn.type if isinstance(fn.type, CallableType) else None
        item = self.item_types.get(fn) if isinstance(fn, LambdaExpr) else None
        for i, arg in enumerate(fn.arguments):
            t = sig.arg_types[i] if sig is not None and i < len(sig.arg_types) else None
            if t is None and item is not None and i == 0 and len(fn.arguments) == 1:
                t = item  # a map_over lambda's item has the element type, as the tracer's does
            self.outputs[arg.variable] = _Out(f'{what} "{arg.variable.name}"', t)

    # ------------------------------------------------------------------ reporting
    def fail(self, code: ErrorCode, message: str, ctx: Context) -> None:
        self.api.fail(message, ctx, code=code)

    def misuse(self, code: ErrorCode, out: _Out, ctx: Context, what: str | None = None) -> None:
        subject = "a condition on task outputs" if out.cond else out.label
        self.fail(code, f"{what or _WHAT[code.code]} {subject} inside a workflow; {_HINTS[code.code]}", ctx)

    def show(self, t: Type) -> str:
        return format_type(t, self.api.options)

    # ------------------------------------------------------------------ statements
    def block(self, b: Block) -> None:
        previous: Statement | None = None
        chain: list[WithStmt] = []
        for s in b.body:
            kind = _branch_call(s)
            if isinstance(s, WithStmt) and kind == WHEN:
                chain = [s]
                self.chains[s] = chain
            elif isinstance(s, WithStmt) and kind in (ORWHEN, OTHERWISE_FN) and chain:
                chain.append(s)
                self.chains[s] = chain
            else:
                chain = []
            if kind in (OTHERWISE_FN, ORWHEN) and _branch_call(previous) not in (WHEN, ORWHEN):
                short = kind.rsplit(".", 1)[1]
                self.fail(
                    OTHERWISE, f'{short}() must directly follow a "with when(...):" or "with orwhen(...):" block', s
                )
            self.stmt(s)
            previous = s

    def stmt(self, s: Statement) -> None:
        # One method per kind of statement, found by its class (the rest check nothing). Not mypy's
        # NodeVisitor/TraverserVisitor: compiled mypy cannot instantiate a plugin's subclass of them.
        visit = _STATEMENTS.get(type(s))
        if visit is not None:
            visit(self, s)

    def visit_expression_stmt(self, s: ExpressionStmt) -> None:
        self.expr(s.expr)

    def visit_assignment_stmt(self, s: AssignmentStmt) -> None:
        rv = s.rvalue
        if (
            len(s.lvalues) == 1
            and isinstance(lv := s.lvalues[0], TupleExpr | ListExpr)
            and isinstance(rv, TupleExpr | ListExpr)
            and len(lv.items) == len(rv.items)
            and not any(isinstance(i, StarExpr) for i in (*lv.items, *rv.items))
        ):  # `a, b = train(x), score(y)`: each name gets its own value (all are evaluated first)
            outs = [self.expr(item) for item in rv.items]
            for item, out in zip(lv.items, outs, strict=True):
                self.assign(item, out)
            return
        out = self.expr(rv)
        for lv in s.lvalues:
            self.assign(lv, out)
            self.hold(lv, rv)

    def hold(self, lv: Expression, rv: Expression) -> None:
        """Follow a local name bound to a container (``scores = []``, ``pair = [a, b]``): whether it holds outputs
        decides whether passing it to a task is a container of outputs, as the tracer sees the list itself."""
        if isinstance(lv, IndexExpr) and isinstance(lv.base, NameExpr) and isinstance(lv.base.node, Var):
            if self.holds_output(rv):  # `by_name["a"] = train(x)`
                self.holders[lv.base.node] = self.holders.get(lv.base.node, ("dict", False))[0], True
            return
        if not (isinstance(lv, NameExpr) and isinstance(lv.node, Var)):
            return
        kind = self.container_kind(rv)
        if kind is None:
            self.holders.pop(lv.node, None)
        else:
            self.holders[lv.node] = kind, self.holds_output(rv)

    def visit_operator_assignment_stmt(self, s: OperatorAssignmentStmt) -> None:
        target, value = self.expr(s.lvalue), self.expr(s.rvalue)
        used = target if target is not None else value
        if used is not None:
            self.misuse(ARITHMETIC, used, s)
        self.assign(s.lvalue, None)

    def visit_if_stmt(self, s: IfStmt) -> None:
        for cond, body in zip(s.expr, s.body, strict=True):
            self.truth(cond)
            self.block(body)
        self.optional_block(s.else_body)

    def visit_while_stmt(self, s: WhileStmt) -> None:
        self.truth(s.expr)
        self.block(s.body)
        self.optional_block(s.else_body)

    def visit_for_stmt(self, s: ForStmt) -> None:
        self.iterate(s.expr)
        self.assign(s.index, None)
        self.block(s.body)
        self.optional_block(s.else_body)

    def visit_with_stmt(self, s: WithStmt) -> None:
        self.with_stmt(s)

    def visit_return_stmt(self, s: ReturnStmt) -> None:
        self.return_stmt(s)

    def visit_assert_stmt(self, s: AssertStmt) -> None:
        self.truth(s.expr)
        self.optional_expr(s.msg)

    def visit_raise_stmt(self, s: RaiseStmt) -> None:
        self.optional_expr(s.expr)
        self.optional_expr(s.from_expr)

    def visit_del_stmt(self, s: DelStmt) -> None:
        self.expr(s.expr)

    def visit_try_stmt(self, s: TryStmt) -> None:
        self.block(s.body)
        for handler in s.handlers:
            self.block(handler)
        self.optional_block(s.else_body)
        self.optional_block(s.finally_body)

    def visit_match_stmt(self, s: MatchStmt) -> None:
        subject = self.expr(s.subject)
        if subject is not None:  # patterns compare with == and truth-test the result
            self.misuse(TRUTHINESS, subject, s.subject, "Matching on")
        for body in s.bodies:
            self.block(body)

    def visit_func_def(self, s: FuncDef) -> None:
        self.local_function(s)

    def visit_decorator(self, s: Decorator) -> None:
        if not any(_decorator_name(d) in _DSL_DECORATORS for d in s.decorators):
            self.local_function(s.func)  # (a task or workflow defined here is checked on its own)

    def visit_block(self, s: Block) -> None:
        self.block(s)

    def optional_block(self, b: Block | None) -> None:
        if b is not None:
            self.block(b)

    def optional_expr(self, e: Expression | None) -> None:
        if e is not None:
            self.expr(e)

    def local_function(self, fn: FuncItem) -> None:
        # A function defined in a workflow body runs while tracing (a map_over body): its
        # parameters are placeholders too, and calling it is wiring, not a plain call.
        self.local_functions.append(fn)
        self.bind_parameters(fn, "map_over item")
        self.depth += 1
        outer, self.returns_from = self.returns_from, len(self.branches)
        try:
            self.block(fn.body)
        finally:
            self.depth -= 1
            self.returns_from = outer

    def with_stmt(self, s: WithStmt) -> None:
        is_branch = False
        for e, target in zip(s.expr, s.target, strict=True):
            is_branch = is_branch or (isinstance(e, CallExpr) and _fullname(e.callee) in BRANCHES)
            out = self.expr(e)
            if target is not None:
                self.assign(target, out)
        if is_branch:
            self.branches.append(s)
        try:
            self.block(s.body)
        finally:
            if is_branch:
                self.branches.pop()

    def return_stmt(self, s: ReturnStmt) -> None:
        if len(self.branches) > self.returns_from:
            self.fail(RETURN_IN_BRANCH, RETURN_IN_BRANCH_MESSAGE, s)
        if s.expr is None:
            return
        out = self.expr(s.expr)
        if self.depth:
            return  # a map_over body's result, not the workflow's
        ret = self.func.type.ret_type if isinstance(self.func.type, CallableType) else None
        if out is not None and ret is not None:
            self.check_optional(out, ret, s.expr, "the return value")
            self.check_columns(out, ret, s.expr, _RETURN, RETURN_VALUE)
        elif ret is not None:
            self.check_record_columns(s.expr, ret)
        self.check_container(s.expr, "returned from a workflow")

    def check_record_columns(self, e: Expression, ret: Type) -> None:
        """A NamedTuple/attrs/dataclass returned from a workflow, built from outputs: the column rule on each
        field, an argument of its constructor (arg-type, as mypy reports any other type of a field)."""
        info = _record_constructor(e)
        if info is None or not isinstance(e, CallExpr) or _record_info(get_proper_type(ret)) is not info:
            return
        ctor = get_proper_type(type_object_type(info, self.api.named_type))
        if not isinstance(ctor, CallableType):
            return
        mapping = map_actuals_to_formals(
            e.arg_kinds, e.arg_names, ctor.arg_kinds, ctor.arg_names, lambda i: AnyType(TypeOfAny.special_form)
        )
        for formal, actuals in enumerate(mapping):
            for i in actuals:
                out = self.values.get(e.args[i])
                if out is not None:
                    name = ctor.arg_names[formal] or str(formal + 1)
                    self.check_columns(
                        out, ctor.arg_types[formal], e.args[i], f'Argument "{name}" to "{info.name}"', ARG_TYPE
                    )

    def check_columns(self, out: _Out, expected: Type, ctx: Context, what: str, code: ErrorCode) -> None:
        """The column rule where a table file flows into a declared type mypy itself accepts."""
        if out.type is None or out.cond or not is_subtype(out.type, expected):
            return  # unknown, or an error mypy reports itself
        found = _columns_mismatch(out.type, expected)
        if found is None:
            return
        got, want = self.show(out.type), self.show(expected)
        if what is _RETURN:
            message = f"Incompatible return value type (got {got} from {out.label}, expected {want}): {found}"
        else:
            message = f"{what} has incompatible type {got} ({out.label}); expected {want}: {found}"
        self.fail(code, message, ctx)

    def assign(self, lv: Expression, out: _Out | None) -> None:
        if isinstance(lv, NameExpr) and isinstance(lv.node, Var):
            if out is None:
                self.outputs.pop(lv.node, None)
            else:
                self.outputs[lv.node] = out
        elif isinstance(lv, TupleExpr | ListExpr):
            fields = self.unpacked(out, lv)
            if fields is not None:  # `a, b = pair()`: a NamedTuple output, field by field
                for item, field in zip(lv.items, fields, strict=True):
                    self.assign(item.expr if isinstance(item, StarExpr) else item, field)
                return
            if out is not None and self.namedtuple_of(out) is None:  # (a NamedTuple's wrong count: mypy's misc)
                self.misuse(ITERATION, out, lv, "Unpacking")
            for item in lv.items:
                self.assign(item.expr if isinstance(item, StarExpr) else item, None)
        elif isinstance(lv, MemberExpr | IndexExpr):
            self.expr(lv)

    def unpacked(self, out: _Out | None, lv: TupleExpr | ListExpr) -> list[_Out | None] | None:
        """The fields of a NamedTuple output unpacked into as many names, one for each (a starred name
        takes the rest as a plain list, not an output); else None: an error."""
        info = self.namedtuple_of(out)
        if out is None or info is None:
            return None
        names = _record_fields(info)
        fields: list[_Out | None] = [
            out._replace(label=f'{out.label[:-1]}.{n}"', type=_attribute_type(info, n)) for n in names
        ]
        star = next((i for i, item in enumerate(lv.items) if isinstance(item, StarExpr)), None)
        if star is None:
            return fields if len(names) == len(lv.items) else None  # mypy reports the count itself
        after = len(lv.items) - star - 1
        if star + after > len(names):
            return None
        return [*fields[:star], None, *fields[len(names) - after :]]

    def namedtuple_of(self, out: _Out | None) -> TypeInfo | None:
        if out is None or out.cond or out.type is None:
            return None
        info = _record_info(get_proper_type(out.type))
        return info if info is not None and _is_namedtuple(info) else None

    # ------------------------------------------------------------------ expressions
    def truth(self, e: Expression) -> None:
        out = self.expr(e)
        if out is not None:
            self.misuse(TRUTHINESS, out, e)

    def iterate(self, e: Expression) -> None:
        out = self.expr(e)
        if out is not None:
            self.misuse(ITERATION, out, e)

    def expr(self, e: Expression) -> _Out | None:
        out = self.evaluate(e)
        if out is not None:
            self.values[e] = out
        return out

    def evaluate(self, e: Expression) -> _Out | None:
        if isinstance(e, NameExpr):
            return self.outputs.get(e.node) if isinstance(e.node, Var) else None
        if isinstance(e, MemberExpr):
            return self.member(e)
        if isinstance(e, CallExpr):
            return self.call(e)
        if isinstance(e, OpExpr):
            return self.op(e)
        if isinstance(e, ComparisonExpr):
            return self.comparison(e)
        if isinstance(e, UnaryExpr):
            return self.unary(e)
        if isinstance(e, IndexExpr):
            base, index = self.expr(e.base), self.expr(e.index)
            used = base if base is not None else index
            if used is not None:
                self.misuse(INDEX, used, e, "Indexing" if base is not None else "Indexing with")
            return None
        if isinstance(e, ConditionalExpr):
            self.truth(e.cond)
            chosen = self.expr(e.if_expr)
            self.expr(e.else_expr)
            return chosen  # the tracer's truth test holds, so it takes the first branch
        if isinstance(e, ListExpr | TupleExpr | SetExpr):
            for item in e.items:
                self.expr(item)
        elif isinstance(e, DictExpr):
            for k, v in e.items:
                self.optional_expr(k)
                out = self.expr(v)
                if k is None and out is not None:  # `{**output}`
                    self.misuse(ITERATION, out, v, "Unpacking")
        elif isinstance(e, ListComprehension | SetComprehension):
            self.generator(e.generator)
        elif isinstance(e, GeneratorExpr):
            self.generator(e)
        elif isinstance(e, DictionaryComprehension):
            self.comprehension(e.sequences, e.condlists, e.indices)
            self.optional_expr(e.key)
            self.expr(e.value)
        elif isinstance(e, LambdaExpr):
            self.local_function(e)
        elif isinstance(e, StarExpr):
            self.iterate(e.expr)
        elif isinstance(e, AssignmentExpr):
            out = self.expr(e.value)
            self.assign(e.target, out)
            return out
        elif isinstance(e, CastExpr):
            return self.expr(e.expr)
        elif isinstance(e, SliceExpr):
            for part in (e.begin_index, e.end_index, e.stride):
                self.optional_expr(part)
        elif isinstance(e, AwaitExpr | YieldFromExpr):
            self.expr(e.expr)
        elif isinstance(e, YieldExpr):
            self.optional_expr(e.expr)
        return None

    def generator(self, g: GeneratorExpr) -> None:
        self.comprehension(g.sequences, g.condlists, g.indices)
        self.expr(g.left_expr)

    def comprehension(
        self, sequences: list[Expression], condlists: list[list[Expression]], indices: list[Expression]
    ) -> None:
        for seq, conds, index in zip(sequences, condlists, indices, strict=True):
            self.iterate(seq)
            self.assign(index, None)
            for c in conds:
                self.truth(c)

    def member(self, e: MemberExpr) -> _Out | None:
        base = self.expr(e.expr)
        if base is None or base.cond or base.type is None:
            return None  # not a placeholder, or of unknown type
        p = get_proper_type(base.type)
        info = _record_info(p)
        if info is not None:
            if e.name in _record_fields(info):
                return base._replace(label=f'{base.label[:-1]}.{e.name}"', type=_attribute_type(info, e.name))
            if info.get(e.name) is None:
                return None  # mypy reports the unknown attribute itself
        elif isinstance(p, AnyType) or _optional_record(p):
            return None  # mypy's own union-attr error
        self.fail(
            ATTR_DEFINED,
            f'{base.label} ({self.show(base.type)}) has no attribute "{e.name}" inside a workflow: only the '
            "fields of NamedTuple, attrs and dataclass outputs can be read there; use it inside a @task",
            e,
        )
        return None

    def unary(self, e: UnaryExpr) -> _Out | None:
        out = self.expr(e.expr)
        if out is None:
            return None
        if e.op == "not":
            self.misuse(TRUTHINESS, out, e)
        elif e.op == "~" and out.cond:
            return out  # negating a condition
        else:
            self.misuse(ARITHMETIC, out, e)
        return None

    def op(self, e: OpExpr) -> _Out | None:
        left = self.expr(e.left)
        if e.op in ("and", "or"):
            if left is not None:
                self.misuse(TRUTHINESS, left, e.left)
            right = self.expr(e.right)
            if e.op == "and":
                return right
            return left if left is not None else right
        right = self.expr(e.right)
        if e.op in ("&", "|") and left is not None and left.cond:
            return left  # conditions combine with & and |
        if e.op == "%" and isinstance(e.left, StrExpr) and right is not None:
            self.misuse(FORMAT, right, e)
            return None
        used = left if left is not None else right
        if used is not None and e.op in _ARITHMETIC_OPS:
            self.misuse(ARITHMETIC, used, e)
        return None

    def comparison(self, e: ComparisonExpr) -> _Out | None:
        outs = [self.expr(o) for o in e.operands]
        found = next((o for o in outs if o is not None), None)
        if found is None:
            return None
        if len(e.operators) > 1:  # a chain truth-tests its first comparison
            self.misuse(TRUTHINESS, found._replace(cond=True), e)
            return None
        if e.operators[0] in ("in", "not in"):
            if outs[1] is not None:
                self.misuse(ITERATION, outs[1], e, "Membership test in")
            else:  # the container compares its elements with ==, then truth-tests the result
                self.misuse(TRUTHINESS, found._replace(cond=True), e)
            return None
        if e.operators[0] in ("<", "<=", ">", ">="):  # a block's output after it may be None: not ordered
            late = next((o for o in outs if o is not None and self.outside_its_branch(o)), None)
            if late is not None:
                self.fail(
                    OPERATOR,
                    f"{late.label} comes from a when/otherwise block and may be None after it, and None cannot be "
                    f'ordered ("{e.operators[0]}"); compare it inside the block',
                    e,
                )
        return _Out(found.label, cond=True, branch=self.current_branch())

    def call(self, e: CallExpr) -> _Out | None:
        # ``output.method()`` is reported as the attribute read; ``output.field()`` calls a value.
        called = self.expr(e.callee)
        args = self.call_arguments(e)
        target = e.callee.expr if isinstance(e.callee, MemberExpr) else None
        if (
            isinstance(target, NameExpr)
            and isinstance(target.node, Var)
            and target.node in self.holders
            and isinstance(e.callee, MemberExpr)
            and e.callee.name in _FILLING
            and any(self.holds_output(a) for a in e.args)
        ):  # `scores.append(train(lr))`: the container now holds an output
            self.holders[target.node] = self.holders[target.node][0], True
        for a, arg_kind, out in zip(e.args, e.arg_kinds, args, strict=True):
            if out is not None and arg_kind in (ARG_STAR, ARG_STAR2):
                self.misuse(ITERATION, out, a, "Unpacking")
        if called is not None:
            self.fail(
                CALL,
                f"{called.label} is a value, not a function: it cannot be called inside a "
                "workflow; call it inside a @task",
                e,
            )
            return None
        name = _fullname(e.callee)
        callee_t = _symbol_type(e.callee)
        short = _short_name(e.callee)
        options = _options_of(e.callee)
        if options is not None:  # `train.options(cache=False)(...)`: the task itself, called
            callee_t, short = _symbol_type(options), _short_name(options)
        if name in (WHEN, ORWHEN) and e.args and args[0] is None:
            self.fail(
                CONDITION,
                "when() needs a condition on task outputs or workflow inputs: a bool output or a comparison "
                'such as "score > 0.5" (combine them with & and |)',
                e,
            )
        if name == AFTER:
            for a, out in zip(e.args, args, strict=True):
                if out is None or out.cond or not out.label.startswith("task output"):
                    shown = out.label if out is not None else "a value that is no task output"
                    self.fail(
                        AFTER_CODE,
                        f"after() waits for what a task, sub-workflow or map_over returned; got {shown}",
                        a,
                    )
            return None
        if name == EXIT_HANDLER and e.args:  # exit_handler(task, *args): the task's arguments, as in a call
            handler = e.args[0]
            sig, _ = _task_signature(_symbol_type(handler))
            call = CallExpr(handler, e.args[1:], e.arg_kinds[1:], e.arg_names[1:])
            call.set_line(e)
            self.check_arguments(call, args[1:], sig, f'exit handler "{_short_name(handler)}"')
            return None
        if name == ONE_OF:
            return self.one_of(e, args)
        if name == FAIL and args and args[0] is not None:
            self.fail(
                ARG_TYPE,
                f"fail() takes a message written in the workflow (a str), got {args[0].label}; compute the "
                "outcome in a @task and fail in a when() block on it",
                e.args[0],
            )
            return None
        if name == "functools.partial" and e.args and _callable_kind(_symbol_type(e.args[0])):
            return None  # a task with some arguments bound (mypy's own partial support checks them): still a task
        if name in BRANCHES:
            return None
        if name == MAP_OVER:
            return self.map_over(e, args)
        kind = _callable_kind(callee_t)
        if kind is not None:
            sig, returns = _task_signature(callee_t)
            self.check_arguments(e, args, sig, f'{kind} "{short}"')
            return _Out(f'task output "{short}()"', returns, branch=self.current_branch())
        node = e.callee.node if isinstance(e.callee, RefExpr) else None
        if isinstance(node, TypeInfo) and _is_record(node):
            ctor = get_proper_type(type_object_type(node, self.api.named_type))
            if isinstance(ctor, CallableType):
                sig = (ctor.arg_types, ctor.arg_kinds, ctor.arg_names)
                self.check_arguments(e, args, sig, f'"{short}"', records=False)
            return None
        if self.is_local_function(e.callee):
            return _Out(f'task output "{short}()"', branch=self.current_branch())
        if self.reduces_display(e, name):
            return None
        if name == "builtins.dict":  # `dict(a=train(x))` iterates nothing: a dict of outputs, wherever it goes
            args = [None if k == ARG_NAMED else o for o, k in zip(args, e.arg_kinds, strict=True)]
        given = next(((a, o) for a, o in zip(e.args, args, strict=True) if o is not None), None)
        if given is None:
            return None
        arg, out = given
        code = _BUILTIN_USE.get(name or "")
        if isinstance(e.callee, MemberExpr) and isinstance(e.callee.expr, StrExpr):
            code = {"format": FORMAT, "join": ITERATION}.get(e.callee.name)
        if name in ("builtins.min", "builtins.max") and len(e.args) > 1:
            code = TRUTHINESS  # they compare their arguments and truth-test the result
        if code is not None and not (out.cond and code is not TRUTHINESS):
            self.misuse(code, out, e)
            return None
        if not _is_plain_callee(e.callee, callee_t):
            return None  # an unknown callee may be a task
        subject = "a condition on task outputs" if out.cond else out.label
        self.fail(
            CALL,
            f'{subject} is passed to "{short}", which is not a task, inside a workflow; only tasks, '
            "workflows, map_over, when, after, exit_handler and NamedTuple/attrs/dataclass constructors take task "
            "outputs "
            f'(make "{short}" a @task, or a @workflow if it calls tasks)',
            arg,
        )
        return None

    def reduces_display(self, e: CallExpr, name: str | None) -> bool:
        """``sum([a, b])``, ``max([a, b])``, ``all([ok, done])``: a builtin that adds, compares or truth-tests
        the outputs of a list/tuple/set display it is given (the tracer sees those operations); reported."""
        code = _REDUCERS.get(name or "")
        display = e.args[0] if len(e.args) == 1 else None
        if code is None or not isinstance(display, ListExpr | TupleExpr | SetExpr):
            return False
        outs = [self.values[i] for i in display.items if i in self.values]
        if not outs or (name in _COMPARING and len(display.items) < 2):
            return False
        self.misuse(code, outs[0]._replace(cond=name in _COMPARING), e)
        return True

    def one_of(self, e: CallExpr, args: list[_Out | None]) -> _Out | None:
        """``one_of(a, b, ...)``: one value from each branch of one when chain ending in otherwise() (a branch
        that fails needs none); its type is the one every value is assignable to."""

        def bad(message: str) -> None:
            self.fail(ONE_OF_CODE, f"one_of(): {message}", e)

        chain: list[WithStmt] | None = None
        taken: dict[int, _Out] = {}
        for out in args:
            branch = out.branch if out is not None else None
            found = self.chains.get(branch) if branch is not None else None
            if out is None or branch is None or found is None:
                what = out.label if out is not None else "a value"
                bad(f"{what} is not computed directly in a branch of a when chain")
                return None
            if chain is not None and found is not chain:
                bad("its values come from different when chains")
                return None
            chain = found
            index = chain.index(branch)
            if index in taken:
                bad(f"{out.label} and {taken[index].label} come from the same branch")
                return None
            taken[index] = out
        if chain is None:
            bad("give it the value each branch of a when/orwhen/otherwise chain computes")
            return None
        failing = {i for i, w in enumerate(chain) if _fails(w)}
        complete = _branch_call(chain[-1]) == OTHERWISE_FN
        if not complete or any(i not in taken and i not in failing for i in range(len(chain))):
            bad(
                "every branch of the chain must compute one of its values (or fail(...)), and the chain must end "
                "with otherwise(), so that a value always exists; else read the branch values as `T | None`"
            )
            return None
        types = [out.type for out in taken.values() if out.type is not None]
        joined = next((t for t in types if all(is_subtype(u, t) for u in types)), None)
        if types and joined is None:
            bad("its values have no common type")
            return None
        return _Out('task output "one_of()"', joined, branch=self.current_branch())

    def call_arguments(self, e: CallExpr) -> list[_Out | None]:
        """Each argument evaluated; for ``map_over(lambda x: ..., items)`` the items first, so that the
        lambda's parameter has the element type of the items (the column rule then applies in its body)."""
        order = list(range(len(e.args)))
        fn_i = items_i = None
        if _fullname(e.callee) == MAP_OVER:
            for i, name in enumerate(e.arg_names):
                if name == "fn" or (name is None and i == 0):
                    fn_i = i
                elif name == "items" or (name is None and i == 1):
                    items_i = i
            if fn_i is not None and items_i is not None and isinstance(e.args[fn_i], LambdaExpr):
                order.remove(items_i)
                order.insert(order.index(fn_i), items_i)
        found: dict[int, _Out | None] = {}
        for i in order:
            if i == fn_i and items_i is not None and isinstance(e.args[i], LambdaExpr):
                items = found.get(items_i)
                t = get_proper_type(items.type) if items is not None and items.type is not None else None
                if isinstance(t, Instance) and t.type.fullname == "builtins.list" and t.args:
                    self.item_types[e.args[i]] = t.args[0]
            found[i] = self.expr(e.args[i])
            if i == fn_i:
                self.module_body(e.args[i])
        return [found[i] for i in range(len(e.args))]

    def module_body(self, fn: Expression) -> None:
        """A plain function of the module mapped by ``map_over``: the tracer runs it inside the workflow, so
        its body is checked as a map_over body (once per workflow)."""
        node = fn.node if isinstance(fn, RefExpr) else None
        if isinstance(node, Decorator):
            if any(_decorator_name(d) in _DSL_DECORATORS for d in node.decorators):
                return
            node = node.func
        here = self.api.tree.fullname if isinstance(self.api.tree, MypyFile) else None
        if (
            isinstance(node, FuncDef)
            and node.fullname.rpartition(".")[0] == here  # (errors are reported in this module)
            and not any(node is f for f in self.local_functions)
        ):
            self.local_function(node)

    def map_over(self, e: CallExpr, args: list[_Out | None]) -> _Out:
        result: Type | None = None
        returns: Type | None = None
        fn_sig: _Signature | None = None
        items: _Out | None = None
        fn_name = ""
        bound: _Partial | None = None
        fn_arg: Expression = e  # where the function mapped is written: its arguments' errors are reported there
        for i, (a, name) in enumerate(zip(e.args, e.arg_names, strict=True)):
            if name == "fn" or (name is None and i == 0):
                fn_name, fn_arg = _short_name(a), a
                if _callable_kind(_symbol_type(a)):
                    fn_sig, returns = _task_signature(_symbol_type(a))
                elif (bound := _partial_of_task(a)) is not None:
                    fn_name, returns = bound.task, bound.returns
                elif (body := self.body_of(a)) is not None:
                    returns = self.returned_type(body)  # what the tracer's map result is typed by
                if returns is not None:
                    result = self.api.named_generic_type("builtins.list", [returns])
            if name in _MAP_OPTIONS and (option := args[i]) is not None:
                self.fail(
                    ARG_TYPE,
                    f"map_over {name} is written in the workflow (a constant), not a value of the run: got "
                    f"{option.label}",
                    a,
                )
            if name == "items" or (name is None and i == 1):
                items = args[i]
                if items is not None:
                    self.check_optional(items, None, a, 'the "items" of "map_over"')
                self.check_container(a, 'passed to "map_over"', records=True)
        # A task mapped directly: each element is its first argument (the column rule; mypy checks the rest).
        items_t = get_proper_type(items.type) if items is not None and items.type is not None else None
        if fn_sig is not None and fn_sig[0] and isinstance(items_t, Instance) and items_t.args:
            if items_t.type.fullname == "builtins.list":
                label = items.label if items is not None else "the items"
                param = fn_sig[2][0] if fn_sig[2] else None
                self.check_columns(
                    _Out(f"an element of {label}", items_t.args[0]),
                    fn_sig[0][0],
                    fn_arg,
                    f'Argument "{param or 1}" to task "{fn_name}"',
                    ARG_TYPE,
                )
        if bound is not None:
            self.check_partial_item(e, fn_arg, bound, items, items_t)
        self.check_tolerance(e, returns)
        return _Out('task output "map_over()"', result, branch=self.current_branch())

    def check_partial_item(
        self, e: CallExpr, ctx: Expression, bound: _Partial, items: _Out | None, items_t: ProperType | None
    ) -> None:
        """``map_over(partial(task, ...), items)``: each item is the task's first parameter left, and the
        parameters left after it need defaults (mypy types a partial object's call as ``(*Any, **Any)``)."""
        target = f'task "{bound.task}"'
        if bound.missing:
            shown = ", ".join(f'"{n}"' for n in bound.missing)
            self.fail(
                CALL_ARG,
                f"Missing positional argument {shown} in call to {target} (map_over gives each item as "
                f'"{bound.param}"; bind the others in the partial)',
                ctx,
            )
        element: Type | None = None
        label = "the items"
        if isinstance(items_t, Instance) and items_t.type.fullname == "builtins.list" and items_t.args:
            element, label = items_t.args[0], f"an element of {items.label}" if items is not None else label
        elif items is None:
            element, label = self.literal_element(e), "an element of the literal list"
        if element is None:
            return
        if not is_subtype(element, bound.param_type):
            self.fail(
                ARG_TYPE,
                f'Argument "{bound.param}" to {target} has incompatible type {self.show(element)} ({label}); '
                f"expected {self.show(bound.param_type)}",
                ctx,
            )
            return
        self.check_columns(
            _Out(label, element), bound.param_type, ctx, f'Argument "{bound.param}" to {target}', ARG_TYPE
        )

    def literal_element(self, e: CallExpr) -> Type | None:
        """The element type of a literal list of numbers or strings given as ``items`` (as the tracer types it)."""
        lst = next(
            (
                a
                for i, (a, n) in enumerate(zip(e.args, e.arg_names, strict=True))
                if n == "items" or (n is None and i == 1)
            ),
            None,
        )
        if not isinstance(lst, ListExpr) or not lst.items:
            return None
        kinds = {type(x) for x in lst.items}
        if kinds == {StrExpr}:
            return self.api.named_type("builtins.str")
        if kinds == {IntExpr}:
            return self.api.named_type("builtins.int")
        if kinds <= {IntExpr, FloatExpr}:
            return self.api.named_type("builtins.float")
        return None

    def check_tolerance(self, e: CallExpr, returns: Type | None) -> None:
        """map_over(..., tolerated_failure=x) with x > 0 gives None for a failed item: the task mapped must
        return an Optional (as the definition-time checker says)."""
        for a, name in zip(e.args, e.arg_names, strict=True):
            if name != "tolerated_failure" or not isinstance(a, IntExpr | FloatExpr) or not a.value:
                continue
            p = get_proper_type(returns) if returns is not None else None
            if p is None or isinstance(p, NoneType | AnyType):
                return
            if isinstance(p, UnionType) and any(isinstance(get_proper_type(i), NoneType) for i in p.items):
                return
            self.fail(
                RETURN_VALUE,
                "map_over with tolerated_failure gives None for a failed item: its function must return an "
                f"Optional (it returns {self.show(p)})",
                e,
            )

    def check_arguments(
        self, e: CallExpr, args: list[_Out | None], sig: _Signature | None, target: str, records: bool = True
    ) -> None:
        """Bind a call's arguments to the callee's parameters and check each bound output.

        ``records``: whether arguments are serialized values (for tasks and workflows), where a
        record built from outputs is a container, as opposed to a record constructor's fields.
        """
        if sig is None:
            return
        types, kinds, names = sig
        mapping = map_actuals_to_formals(
            e.arg_kinds, e.arg_names, kinds, names, lambda i: AnyType(TypeOfAny.special_form)
        )
        for formal, actuals in enumerate(mapping):
            for i in actuals:
                out = args[i]
                param = names[formal] or str(formal + 1)
                if out is not None and out.cond and records:
                    self.fail(
                        ARG_TYPE,
                        f'Argument "{param}" to {target} is a condition on task outputs, not a '
                        'value: use it in "with when(cond):", or compute the bool in a @task',
                        e.args[i],
                    )
                elif out is not None:
                    self.check_optional(out, types[formal], e.args[i], f'argument "{param}" of {target}')
                    if records:
                        self.check_columns(out, types[formal], e.args[i], f'Argument "{param}" to {target}', ARG_TYPE)
                self.check_container(e.args[i], f"passed to {target}", records=records)

    def outside_its_branch(self, out: _Out) -> bool:
        """Whether ``out`` was produced in a when/otherwise block that is closed here (it may be None)."""
        return out.branch is not None and not any(b is out.branch for b in self.branches)

    def check_optional(self, out: _Out, expected: Type | None, ctx: Context, where: str) -> None:
        """Report a block's output used after the block where ``expected`` does not accept None."""
        if not self.outside_its_branch(out):
            return
        if expected is not None:
            p = get_proper_type(expected)
            if isinstance(p, AnyType) or is_subtype(NoneType(), p):
                return
        shown = f" ({self.show(expected)})" if expected is not None else ""
        self.fail(
            BRANCH_OUTPUT,
            f"{out.label} comes from a when/otherwise block and may not exist after it, but {where}{shown} "
            "does not accept None; use it inside the block, or declare it Optional",
            ctx,
        )

    def check_container(self, e: Expression, where: str, records: bool = False) -> None:
        """Report a list/tuple/set/dict display (or, for task arguments, a record) holding outputs."""
        kind = self.container_kind(e)
        record = _record_constructor(e) if records else None
        if record is not None:
            kind = f'"{record.name}" record'
        if kind is not None and self.holds_output(e):
            self.fail(
                CONTAINER,
                f"a {kind} holding task outputs cannot be {where}; build it inside a @task "
                "(a workflow may return a NamedTuple of outputs)",
                e,
            )

    def holds_output(self, e: Expression) -> bool:
        if isinstance(e, NameExpr) and isinstance(e.node, Var) and e.node in self.holders:
            return self.holders[e.node][1]
        if isinstance(e, ListComprehension):
            return self.holds_output(e.generator.left_expr)
        if isinstance(e, ListExpr | TupleExpr | SetExpr):
            return any(self.holds_output(i) for i in e.items)
        if isinstance(e, DictExpr):  # (a `**output` entry is an unpacking error of its own: it puts nothing in)
            return any(self.holds_output(v) if k is not None else self.holds_container(v) for k, v in e.items)
        if isinstance(e, CallExpr) and _record_constructor(e) is not None:
            return any(self.holds_output(a) for a in e.args)
        if isinstance(e, CallExpr) and (copied := _COPIES.get(_fullname(e.callee) or "")) is not None:
            return any(  # `list(outs)`, `dict(by_name)`, `dict(a=train(x))`; not `list(by_name)`: its keys
                self.holds_output(a) if k == ARG_NAMED else self.holds_items(a, keys_only=copied != "dict")
                for a, k in zip(e.args, e.arg_kinds, strict=True)
            )
        if isinstance(e, CallExpr) and isinstance(e.callee, MemberExpr) and e.callee.name in _VIEWS:
            return self.holds_container(e.callee.expr)  # `by_name.values()`, `outs.copy()`
        if isinstance(e, StarExpr):  # `[*outs]`; not `[*by_name]`: its keys
            return self.holds_items(e.expr, keys_only=True)
        if isinstance(e, OpExpr) and e.op == "+" and e.left not in self.values and e.right not in self.values:
            return self.holds_container(e.left) or self.holds_container(e.right)  # `outs + [x]`
        return e in self.values

    def holds_container(self, e: Expression) -> bool:
        """Whether ``e`` is a container (not itself an output, whose use is another error) holding outputs."""
        return e not in self.values and self.holds_output(e)

    def holds_items(self, e: Expression, keys_only: bool) -> bool:
        """Whether iterating the container ``e`` gives outputs (``keys_only``: a dict gives its keys)."""
        return self.holds_container(e) and not (keys_only and self.container_kind(e) == "dict")

    def container_kind(self, e: Expression) -> str | None:
        """The kind of container ``e`` is: a display or list comprehension, a local name bound to one, or a
        copy of one (``list(by_name.values())``, ``outs.copy()``, ``outs + [x]``), a new container for the tracer."""
        kind = _CONTAINERS.get(type(e)) or ("list" if isinstance(e, ListComprehension) else None)
        if kind is not None:
            return kind
        if isinstance(e, NameExpr) and isinstance(e.node, Var) and e.node in self.holders:
            return self.holders[e.node][0]
        if isinstance(e, CallExpr):
            copied = _COPIES.get(_fullname(e.callee) or "")
            if copied is None and isinstance(e.callee, MemberExpr) and e.callee.name == "copy":
                return self.container_kind(e.callee.expr)
            return copied
        if isinstance(e, OpExpr) and e.op == "+":
            return self.container_kind(e.left) or self.container_kind(e.right)
        return None

    def body_of(self, fn: Expression) -> FuncItem | None:
        """The lambda, or the function defined in this workflow, that ``fn`` is (a map_over body)."""
        if isinstance(fn, LambdaExpr):
            return fn
        node = fn.node if isinstance(fn, NameExpr) else None
        found = node.func if isinstance(node, Decorator) else node
        return found if isinstance(found, FuncDef) and any(found is f for f in self.local_functions) else None

    def returned_type(self, fn: FuncItem) -> Type | None:
        """The type a map_over body returns: as declared, else that of the one output it returns at its top
        level (None when unknown, or when that output was made in a ``when`` block: it may be None)."""
        if isinstance(fn.type, CallableType) and not fn.type.implicit:
            return fn.type.ret_type
        returns = [s.expr for s in fn.body.body if isinstance(s, ReturnStmt) and s.expr is not None]
        out = self.values.get(returns[0]) if len(returns) == 1 else None
        return out.type if out is not None and not out.cond and out.branch is None else None

    def is_local_function(self, callee: Expression) -> bool:
        node = callee.node if isinstance(callee, NameExpr) else None
        fn = node.func if isinstance(node, Decorator) else node
        return isinstance(fn, FuncDef) and any(fn is f for f in self.local_functions)

    def current_branch(self) -> WithStmt | None:
        return self.branches[-1] if self.branches else None


_STATEMENTS: dict[type[Statement], Callable[[_BodyChecker, Any], None]] = {
    ExpressionStmt: _BodyChecker.visit_expression_stmt,
    AssignmentStmt: _BodyChecker.visit_assignment_stmt,
    OperatorAssignmentStmt: _BodyChecker.visit_operator_assignment_stmt,
    IfStmt: _BodyChecker.visit_if_stmt,
    WhileStmt: _BodyChecker.visit_while_stmt,
    ForStmt: _BodyChecker.visit_for_stmt,
    WithStmt: _BodyChecker.visit_with_stmt,
    ReturnStmt: _BodyChecker.visit_return_stmt,
    AssertStmt: _BodyChecker.visit_assert_stmt,
    RaiseStmt: _BodyChecker.visit_raise_stmt,
    DelStmt: _BodyChecker.visit_del_stmt,
    TryStmt: _BodyChecker.visit_try_stmt,
    MatchStmt: _BodyChecker.visit_match_stmt,
    FuncDef: _BodyChecker.visit_func_def,
    Decorator: _BodyChecker.visit_decorator,
    Block: _BodyChecker.visit_block,
}


def _branch_call(s: Statement | None) -> str | None:
    """``WHEN`` or ``OTHERWISE_FN`` for a ``with when(...):`` / ``with otherwise():`` statement."""
    if isinstance(s, WithStmt):
        for e in s.expr:
            name = _fullname(e.callee) if isinstance(e, CallExpr) else None
            if name in BRANCHES:
                return name
    return None


def _fails(s: WithStmt) -> bool:
    """Whether a branch calls ``fail(...)`` at its top level (it needs no value for ``one_of``)."""
    return any(
        isinstance(x, ExpressionStmt) and isinstance(x.expr, CallExpr) and _fullname(x.expr.callee) == FAIL
        for x in s.body.body
    )


def _record_constructor(e: Expression) -> TypeInfo | None:
    node = e.callee.node if isinstance(e, CallExpr) and isinstance(e.callee, RefExpr) else None
    return node if isinstance(node, TypeInfo) and _is_record(node) else None


def _decorator_name(d: Expression) -> str | None:
    return _fullname(d.callee if isinstance(d, CallExpr) else d)


def _fullname(e: Expression) -> str | None:
    return (e.fullname or None) if isinstance(e, RefExpr) else None


def _short_name(e: Expression) -> str:
    return e.name if isinstance(e, NameExpr | MemberExpr) else "<expression>"


def _options_of(callee: Expression) -> Expression | None:
    """``train`` when ``callee`` is ``train.options(...)``."""
    if isinstance(callee, CallExpr) and isinstance(callee.callee, MemberExpr) and callee.callee.name == "options":
        return callee.callee.expr
    return None


def _symbol_type(e: Expression) -> Type | None:
    """The declared type of what a name refers to (a decorated function's is the decorator's result)."""
    node = e.node if isinstance(e, RefExpr) else None
    if node is None and isinstance(e, MemberExpr):
        t = _symbol_type_of(_class_member(e))
        return t if _callable_kind(t) else None  # a task kept in a class; other members: as before
    return _symbol_type_of(node)


def _symbol_type_of(node: object) -> Type | None:
    if isinstance(node, Decorator):
        return node.var.type
    if isinstance(node, Var | FuncDef | OverloadedFuncDef):
        return node.type
    return None


def _class_member(e: MemberExpr) -> object:
    """What ``C.name`` or ``obj.name`` (``obj`` a module or class variable of class ``C``) refers to in ``C``:
    mypy's semantic analysis leaves a class's functions and variables unresolved there."""
    base = e.expr.node if isinstance(e.expr, RefExpr) else None
    if isinstance(base, Var) and base.type is not None:
        t = get_proper_type(base.type)
        base = t.type if isinstance(t, Instance) else None
    sym = base.get(e.name) if isinstance(base, TypeInfo) else None
    return sym.node if sym is not None else None


def _callable_kind(t: Type | None) -> str | None:
    """``"task"`` or ``"workflow"`` when ``t`` is a Task or Workflow object."""
    p = get_proper_type(t) if t is not None else None
    if isinstance(p, Instance):
        if p.type.has_base(TASK_CLASS):
            return "task"
        if p.type.has_base(WORKFLOW_CLASS):
            return "workflow"
    return None


def _task_signature(t: Type | None) -> tuple[_Signature | None, Type | None]:
    """The parameters (types, kinds, names) and the result type of a Task/Workflow object."""
    p = get_proper_type(t) if t is not None else None
    if isinstance(p, Instance):
        for base in p.type.mro:
            if base.fullname in (TASK_CLASS, WORKFLOW_CLASS):
                params, returns = map_instance_to_supertype(p, base).args
                pp = get_proper_type(params)
                if isinstance(pp, Parameters | CallableType) and not pp.is_ellipsis_args:
                    return (pp.arg_types, pp.arg_kinds, pp.arg_names), returns
                return None, returns
    return None, None


class _Partial(NamedTuple):
    """``functools.partial(task, ...)`` as ``map_over`` calls it, with one item."""

    task: str
    param: str  # the parameter each item is given as
    param_type: Type
    missing: list[str]  # required parameters left unbound
    returns: Type | None


def _partial_of_task(e: Expression) -> _Partial | None:
    """What ``partial(task, *args, **kwargs)(item)`` binds ``item`` to: Python calls ``task(*args, item, **kwargs)``."""
    if not (isinstance(e, CallExpr) and _fullname(e.callee) == "functools.partial" and e.args):
        return None
    if e.arg_kinds[0] != ARG_POS or not _callable_kind(_symbol_type(e.args[0])):
        return None
    sig, returns = _task_signature(_symbol_type(e.args[0]))
    kinds, names = e.arg_kinds[1:], e.arg_names[1:]
    if sig is None or any(k in (ARG_STAR, ARG_STAR2) for k in kinds):
        return None
    types, formal_kinds, formal_names = sig
    slots = [i for i, k in enumerate(formal_kinds) if k.is_positional()]
    given = sum(1 for k in kinds if k == ARG_POS)
    if given >= len(slots) or formal_names[slots[given]] in names:
        return None  # too many arguments, or the item's parameter bound by name too: Python's own errors
    item = slots[given]
    taken = {formal_names[i] for i in slots[: given + 1]} | {n for n in names if n is not None}
    missing = [n for i, n in enumerate(formal_names) if n and formal_kinds[i].is_required() and n not in taken]
    task = _short_name(e.args[0])
    return _Partial(task, formal_names[item] or str(item + 1), types[item], missing, returns)


def _is_plain_callee(callee: Expression, t: Type | None) -> bool:
    """Whether ``callee`` certainly is a plain function or class rather than a task."""
    node = callee.node if isinstance(callee, RefExpr) else None
    if isinstance(node, FuncDef | OverloadedFuncDef | TypeInfo):
        return True
    p = get_proper_type(t) if t is not None else None
    return isinstance(node, Decorator | Var) and isinstance(p, FunctionLike)


def _is_record(info: TypeInfo) -> bool:
    if info.fullname in ARTIFACTS:
        return False
    return _namedtuple_base(info) is not None or "attrs" in info.metadata or "dataclass" in info.metadata


def _namedtuple_base(info: TypeInfo) -> TypeInfo | None:
    """The NamedTuple class ``info`` is, or derives from (a subclass that adds methods is one too)."""
    return next((b for b in info.mro if b.is_named_tuple), None)


def _record_info(p: ProperType | None) -> TypeInfo | None:
    if isinstance(p, TupleType):
        p = p.partial_fallback
    if isinstance(p, Instance) and _is_record(p.type):
        return p.type
    return None


def _is_namedtuple(info: TypeInfo) -> bool:
    return _namedtuple_base(info) is not None


def _record_fields(info: TypeInfo) -> list[str]:
    """The fields the tracer can read: a NamedTuple's, or an attrs/dataclass class's attributes."""
    base = _namedtuple_base(info)
    if base is not None:
        return list(base.metadata.get("namedtuple", {}).get("fields", []))
    for key in ("attrs", "dataclass"):
        if key in info.metadata:
            return [a["name"] for a in info.metadata[key].get("attributes", [])]
    return []


def _attribute_type(info: TypeInfo, name: str) -> Type | None:
    sym = info.get(name)
    return sym.node.type if sym is not None and isinstance(sym.node, Var) else None


def _optional_record(p: ProperType) -> bool:
    return isinstance(p, UnionType) and any(_record_info(get_proper_type(i)) is not None for i in p.items)


# ---------------------------------------------------------------------------- typed tables
_Schema = tuple[str, list[tuple[str, str, bool]]]  # the Columns class's short name, its columns


def _columns_mismatch(actual: Type, expected: Type, invariant: bool = False) -> str | None:
    """How the column schemas in ``actual`` fail those at the same place in ``expected`` (top level,
    Optional, list, dict, tuple), by :func:`typedflow.tables.rule.describe`; None when they do not."""
    from typedflow.tables.rule import Col, describe, mismatches

    a, e = get_proper_type(actual), get_proper_type(expected)
    if isinstance(e, UnionType):
        items = [get_proper_type(i) for i in e.items if not isinstance(get_proper_type(i), NoneType)]
        if len(items) != 1:
            return None
        e = items[0]
        if isinstance(a, UnionType):
            rest = [get_proper_type(i) for i in a.items if not isinstance(get_proper_type(i), NoneType)]
            if len(rest) != 1:
                return None
            a = rest[0]
    if isinstance(a, TupleType) and isinstance(e, TupleType) and len(a.items) == len(e.items):
        for x, y in zip(a.items, e.items, strict=True):
            found = _columns_mismatch(x, y, invariant)
            if found is not None:
                return found
        return None
    if not (isinstance(a, Instance) and isinstance(e, Instance)):
        return None
    if e.type.fullname in ("builtins.list", "builtins.dict") and a.type.fullname == e.type.fullname:
        for x, y in zip(a.args, e.args, strict=False):
            found = _columns_mismatch(x, y, True)
            if found is not None:
                return found
        return None
    if e.type.fullname not in ARTIFACTS or not a.type.has_base(e.type.fullname) or not e.args:
        return None
    mapped = map_instance_to_supertype(a, e.type)
    if not mapped.args:
        return None
    have, want = _schema(mapped.args[0]), _schema(e.args[0])
    if have is None or want is None:
        return None  # a format without a schema (any columns), or a column type the tracer rejects
    pc, wc = [Col(*c) for c in have[1]], [Col(*c) for c in want[1]]
    if mismatches(pc, wc):
        return describe(have[0], pc, want[0], wc)
    if invariant and mismatches(wc, pc):
        return describe(want[0], wc, have[0], pc)
    return None


def _schema(fmt: Type) -> _Schema | None:
    """The column schema a format type carries (``Parquet[Raw]``, or a subclass of one)."""
    p = get_proper_type(fmt)
    if not isinstance(p, Instance):
        return None
    base = next((b for b in p.type.mro if b.fullname == TABULAR), None)
    if base is None:
        return None
    mapped = map_instance_to_supertype(p, base)
    arg = get_proper_type(mapped.args[0]) if mapped.args else None
    if not isinstance(arg, Instance) or arg.type.fullname == COLUMNS:
        return None
    columns: dict[str, tuple[str, str, bool]] = {}
    for info in reversed(arg.type.mro):
        if info.fullname in (COLUMNS, "builtins.object"):
            continue
        for name, sym in info.names.items():
            node = sym.node
            if not isinstance(node, Var) or node.is_classvar or node.type is None:
                continue
            if name.startswith("__") or node.is_inferred:  # a column is annotated, as for get_type_hints
                continue
            col = _column(name, node.type)
            if col is None:
                return None
            columns.pop(name, None)
            columns[name] = col
    return arg.type.name, list(columns.values())


def _column(name: str, t: Type) -> tuple[str, str, bool] | None:
    p = get_proper_type(t)
    nullable = False
    if isinstance(p, UnionType):
        rest = [get_proper_type(i) for i in p.items if not isinstance(get_proper_type(i), NoneType)]
        if len(rest) != 1 or len(rest) == len(p.items):
            return None
        nullable, p = True, rest[0]
    kind = _COLUMN_TYPES.get(p.type.fullname) if isinstance(p, Instance) else None
    return None if kind is None else (name, kind, nullable)


def plugin(version: str) -> type[mypy.plugin.Plugin]:
    """mypy's entry point."""
    return TypedflowPlugin
