"""The workflow IR: frozen value objects, the contract between the tracer and every backend.

Backends read these classes and nothing else. Serialization lives in :mod:`typedflow.ir.codec`.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

import attrs

from typedflow.dsl.srcpaths import shown_path

JSONValue = Any  # a JSON document (typed by the TypeRef that accompanies it)

IR_SCHEMA_VERSION = "1"
MAX_NESTING = 100
"""How deep blocks may nest: ``when`` branches, ``map_over`` bodies, exit handler blocks and sub-workflow
calls (a call counts one, plus how deep its workflow nests). Checked when a workflow is defined and when
an IR document is loaded, so every pass over the IR may follow the nesting without running out of stack."""


@attrs.frozen
class SourceLoc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{shown_path(self.file)}:{self.line}"  # the IR keeps the stable path


@attrs.frozen
class Field:
    """A record field; ``default`` (typed JSON) fills it in when a JSON value leaves it out."""

    name: str
    type: TypeRef
    has_default: bool = False
    default: JSONValue = attrs.field(default=None, hash=False)  # (a list is not hashable; types are)


@attrs.frozen
class ColumnCheck:
    """A value constraint on a column: bounds (typed JSON of the column's type), allowed values,
    uniqueness. Every bound that is not None must hold for every non-null value."""

    ge: JSONValue = None
    gt: JSONValue = None
    le: JSONValue = None
    lt: JSONValue = None
    isin: tuple[JSONValue, ...] | None = None
    unique: bool = False


@attrs.frozen
class Column:
    """One column of a table schema. ``type`` is one of: bool, int, float, str, date, datetime,
    decimal, bytes; ``nullable`` whether it may hold nulls (declared ``Optional``)."""

    name: str
    type: str
    nullable: bool = False
    checks: tuple[ColumnCheck, ...] = ()


@attrs.frozen
class Schema:
    """The columns a table file has at least: ``name`` is the ``Columns`` class (``module:Qualname``)."""

    name: str
    columns: tuple[Column, ...] = ()


TypeKind = Literal[
    "bool",
    "int",
    "float",
    "str",
    "bytes",
    "none",
    "datetime",
    "date",
    "any",
    "enum",
    "list",
    "dict",
    "tuple",
    "optional",
    "record",
    "file",
    "directory",
    "secret",
]
TYPE_KINDS: Final[frozenset[str]] = frozenset(get_args(TypeKind))


@attrs.frozen
class TypeRef:
    """A value type.

    ``kind`` says which (see :data:`TypeKind`). ``args`` holds element types (list: 1, dict: 1 value
    type, tuple: n, optional: 1). ``name`` is ``module:Qualname`` for enum/record and the format key
    for file/directory; ``lineage`` lists what the name is assignable to (record bases, format
    ancestors); ``fields`` are record fields; ``members`` enum values (as text); ``flavor`` the record's
    Python flavor (attrs, dataclass, namedtuple), ``tuple`` for a list declared ``tuple[T, ...]``, or
    ``int`` for an enum whose values are ints (its typed JSON is a number; a str enum's is a string).
    ``schema`` is the column schema of a table file or directory (``TypedFile[Parquet[Raw]]``); None
    means any columns (and is left out of the IR's JSON, so documents without schemas are unchanged).
    """

    kind: TypeKind
    args: tuple[TypeRef, ...] = ()
    name: str = ""
    lineage: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    members: tuple[str, ...] = ()
    flavor: str = ""
    schema: Schema | None = None

    def __str__(self) -> str:
        return render(self)


def _short(name: str) -> str:
    return name.rpartition(":")[2]


def render(t: TypeRef) -> str:
    """The annotation as a user would write it."""
    k = t.kind
    if k == "none":
        return "None"
    if k in ("list", "dict"):
        inner = render(t.args[0])
        if k == "list" and t.flavor == "tuple":
            return f"tuple[{inner}, ...]"
        return f"list[{inner}]" if k == "list" else f"dict[str, {inner}]"
    if k == "tuple":
        return "tuple[" + ", ".join(render(a) for a in t.args) + "]"
    if k == "optional":
        return f"{render(t.args[0])} | None"
    if k in ("record", "enum"):
        return _short(t.name)
    if k in ("file", "directory"):
        cls = "TypedFile" if k == "file" else "TypedDirectory"
        return f"{cls}[{t.name.rpartition(':')[2]}]"  # a table format given a schema is named Parquet[Raw]
    if k == "secret":
        return "Secret"
    return k


@attrs.frozen
class Param:
    name: str
    type: TypeRef
    has_default: bool = False
    default: JSONValue = None


# ----------------------------------------------------------------------------- bindings


@attrs.frozen
class InputRef:
    """A workflow input (or, inside a map body, the current item when ``name`` is the item name)."""

    name: str
    path: tuple[str, ...] = ()
    kind: Literal["input"] = "input"


@attrs.frozen
class OutputRef:
    """An output of another node. ``output`` is None for the whole NamedTuple of a task."""

    node: str
    output: str | None
    path: tuple[str, ...] = ()
    kind: Literal["output"] = "output"


@attrs.frozen
class ItemRef:
    """The current element of the innermost enclosing map block (``map`` names it)."""

    map: str
    path: tuple[str, ...] = ()
    kind: Literal["item"] = "item"


@attrs.frozen
class FailureRef:
    """The failure an ``on_failure`` or exit handler runs for (a ``typedflow.Failure``; None for an exit
    handler whose block succeeded). Only a handler's arguments may hold it."""

    path: tuple[str, ...] = ()
    kind: Literal["failure"] = "failure"


@attrs.frozen
class Const:
    value: JSONValue
    kind: Literal["literal"] = "literal"


@attrs.frozen
class OneOf:
    """``one_of(a, b, ...)``: the value of whichever branch of one `when` chain ran (each option an output
    produced in a different branch of it; exactly one ran, or the run failed)."""

    options: tuple[OutputRef, ...]
    kind: Literal["oneof"] = "oneof"


Binding = InputRef | OutputRef | ItemRef | Const | OneOf | FailureRef


@attrs.frozen
class Arg:
    """A node's argument: ``param`` receives ``value``; ``optional`` marks a reference into a
    conditional branch that may not have run (the value is then None)."""

    param: str
    value: Binding
    optional: bool = False


@attrs.frozen
class RecordOf:
    """A record built in a ``map_over`` body from values of the body (``lambda x: Pair(inc(x), dec(x))``):
    each field's value (``param`` is the field's name), in the order of the record type's fields. Only a
    map's ``result`` is one."""

    fields: tuple[Arg, ...]
    kind: Literal["record"] = "record"


MapResult = Binding | RecordOf


# ----------------------------------------------------------------------------- conditions


@attrs.frozen
class Compare:
    op: str  # ==, !=, <, <=, >, >=
    left: Binding
    right: Binding
    kind: Literal["compare"] = "compare"


@attrs.frozen
class And:
    terms: tuple[Condition, ...]
    kind: Literal["and"] = "and"


@attrs.frozen
class Or:
    terms: tuple[Condition, ...]
    kind: Literal["or"] = "or"


@attrs.frozen
class Not:
    term: Condition
    kind: Literal["not"] = "not"


Condition = Compare | And | Or | Not

# ----------------------------------------------------------------------------- policies


@attrs.frozen
class RetryPolicy:
    attempts: int = 1
    backoff: float = attrs.field(default=2.0, converter=float)
    initial_delay: float = attrs.field(default=1.0, converter=float)
    max_delay: float = attrs.field(default=60.0, converter=float)
    jitter: bool = True
    on: tuple[str, ...] = ()  # exception classes as module:Qualname; empty = any Exception


def _opt_float(v: float | None) -> float | None:
    return None if v is None else float(v)


@attrs.frozen
class ResourceSpec:
    """Compute resources of a task. ``memory`` and ``ephemeral_storage`` use Kubernetes quantities."""

    cpu: float | None = attrs.field(default=None, converter=_opt_float)
    memory: str | None = None
    gpu: int = 0
    gpu_type: str | None = None
    ephemeral_storage: str | None = None


@attrs.frozen
class CachePolicy:
    enabled: bool = True
    version: str = ""


@attrs.frozen
class NodeOptions:
    """Options of one call of a task (``train.options(cache=False)(...)``), over its template's."""

    cache: bool | None = None
    cache_version: str | None = None
    retry: RetryPolicy | None = None
    timeout: float | None = attrs.field(default=None, converter=_opt_float)
    resources: ResourceSpec | None = None


@attrs.frozen
class EnvironmentSpec:
    """What a task needs where it runs (see :class:`typedflow.Environment`): ``python`` as ``X.Y``,
    canonical requirement strings, a base image, environment variables (sorted pairs)."""

    python: str | None = None
    packages: tuple[str, ...] = ()
    base_image: str | None = None
    env: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class TaskTemplate:
    """A task: its typed interface, where its code lives, its code digest and policies."""

    name: str
    module: str
    qualname: str
    code_digest: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    returns: TypeRef
    version: str = ""
    image: str | None = None
    timeout: float | None = attrs.field(default=None, converter=_opt_float)
    retry: RetryPolicy = RetryPolicy()
    resources: ResourceSpec = ResourceSpec()
    cache: CachePolicy = CachePolicy()
    loc: SourceLoc | None = None
    environment: EnvironmentSpec | None = None  # its own; else the deployed workflow's
    # Variables set while the task runs (sorted pairs), and secrets as (variable, reference): the
    # reference (``aws-sm:...``, ``gcp-sm:...``, ``env:...``) is resolved where the task runs, never stored.
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()


# ----------------------------------------------------------------------------- nodes


@attrs.frozen
class TaskNode:
    id: str
    task: str
    args: tuple[Arg, ...]
    loc: SourceLoc
    kind: Literal["task"] = "task"
    after: tuple[str, ...] = ()  # sibling nodes it waits for without reading their outputs (`with after(...)`)
    options: NodeOptions | None = None  # this call's own options (`task.options(...)`)


@attrs.frozen
class Branch:
    """One arm of a conditional: ``condition`` None is the ``otherwise`` arm."""

    condition: Condition | None
    nodes: tuple[Node, ...]
    loc: SourceLoc


@attrs.frozen
class ConditionalNode:
    id: str
    branches: tuple[Branch, ...]
    loc: SourceLoc
    kind: Literal["conditional"] = "conditional"
    after: tuple[str, ...] = ()  # sibling nodes it waits for without reading their outputs (`with after(...)`)


@attrs.frozen
class MapNode:
    """Runs ``body`` once per element of ``items``; its single output ``out`` is the list of
    ``result`` values, in item order."""

    id: str
    items: Arg
    item_type: TypeRef
    body: tuple[Node, ...]
    result: MapResult
    result_type: TypeRef
    max_concurrency: int | None
    loc: SourceLoc
    kind: Literal["map"] = "map"
    after: tuple[str, ...] = ()  # sibling nodes it waits for without reading their outputs (`with after(...)`)
    # On Step Functions: a Distributed Map (child executions); "auto": when --map-size needs one. Elsewhere the
    # items run as before.
    distributed: bool | Literal["auto"] = False
    # The share of items (0 to 1) that may fail without failing the map; a failed item's result is None.
    tolerated_failure: float = 0.0


@attrs.frozen
class SubWorkflowNode:
    id: str
    workflow: str
    args: tuple[Arg, ...]
    loc: SourceLoc
    kind: Literal["subworkflow"] = "subworkflow"
    after: tuple[str, ...] = ()  # sibling nodes it waits for without reading their outputs (`with after(...)`)


@attrs.frozen
class ExitHandlerNode:
    """``with exit_handler(task, ...):``: ``body`` runs, then ``handler`` runs whether it succeeded or
    failed (its ``Failure | None`` parameter gets None, or the body's first failure). The node fails
    when the body or the handler failed. Values the body produces are read after the block as usual."""

    id: str
    body: tuple[Node, ...]
    handler: OnFailure
    loc: SourceLoc
    kind: Literal["exit_handler"] = "exit_handler"
    after: tuple[str, ...] = ()


@attrs.frozen
class FailNode:
    """``fail(message)``: the block, and so the run, fails here with ``message``."""

    id: str
    message: str
    loc: SourceLoc
    kind: Literal["fail"] = "fail"
    after: tuple[str, ...] = ()


Node = TaskNode | ConditionalNode | MapNode | SubWorkflowNode | FailNode | ExitHandlerNode
FAIL_ERROR = "typedflow.Fail"  # the error type of a run that reached fail(message)


@attrs.frozen
class OnFailure:
    """The task run when the workflow fails; its ``failure`` parameter (if declared) gets the
    failure details as a ``typedflow.Failure``."""

    task: str
    args: tuple[Arg, ...]
    loc: SourceLoc


@attrs.frozen
class Workflow:
    name: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    returns: TypeRef
    results: tuple[Arg, ...]
    nodes: tuple[Node, ...]
    loc: SourceLoc
    module: str = ""
    qualname: str = ""
    schedule: str | None = None
    on_failure: OnFailure | None = None
    environment: EnvironmentSpec | None = None  # the default of its tasks


@attrs.frozen
class WorkflowIR:
    """A self-contained document: the workflow, every task and sub-workflow it uses."""

    workflow: Workflow
    tasks: tuple[TaskTemplate, ...]
    subworkflows: tuple[Workflow, ...] = ()
    schema_version: str = IR_SCHEMA_VERSION
    typedflow_version: str = ""
    python_version: str = ""
    digest: str = ""

    def task(self, name: str) -> TaskTemplate:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def subworkflow(self, name: str) -> Workflow:
        for w in self.subworkflows:
            if w.name == name:
                return w
        raise KeyError(name)


def node_outputs(node: Node, ir: WorkflowIR) -> tuple[Param, ...]:
    """The named outputs a node exposes to its successors."""
    if isinstance(node, TaskNode):
        return ir.task(node.task).outputs
    if isinstance(node, MapNode):
        return (Param("out", TypeRef("list", (node.result_type,))),)
    if isinstance(node, SubWorkflowNode):
        return ir.subworkflow(node.workflow).outputs
    return ()


def walk(nodes: tuple[Node, ...]) -> list[Node]:
    """Every node, depth first, including those nested in branches and map bodies."""
    out: list[Node] = []
    stack = list(reversed(nodes))
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, ConditionalNode):
            for b in reversed(n.branches):
                stack.extend(reversed(b.nodes))
        elif isinstance(n, MapNode | ExitHandlerNode):
            stack.extend(reversed(n.body))
    return out


def nesting(doc: WorkflowIR) -> int:
    """How deep the blocks of ``doc``'s workflow nest (see :data:`MAX_NESTING`), computed without
    recursion; a sub-workflow that calls itself (rejected elsewhere) or is missing counts as flat."""
    subs = {w.name: w for w in doc.subworkflows}
    depth: dict[str, int] = {}
    pending: list[tuple[Workflow, bool]] = [(doc.workflow, False)]
    on_path: set[str] = set()
    while pending:
        w, ready = pending.pop()
        if w.name in depth and not ready:
            continue
        if not ready:
            on_path.add(w.name)
            pending.append((w, True))
            for n in walk(w.nodes):
                callee = subs.get(n.workflow) if isinstance(n, SubWorkflowNode) else None
                if callee is not None and callee.name not in depth and callee.name not in on_path:
                    pending.append((callee, False))
            continue
        on_path.discard(w.name)
        deepest = 0
        stack: list[tuple[tuple[Node, ...], int]] = [(w.nodes, 0)]
        while stack:
            nodes, level = stack.pop()
            for n in nodes:
                if isinstance(n, SubWorkflowNode):
                    deepest = max(deepest, level + 1 + depth.get(n.workflow, 0))
                elif isinstance(n, ConditionalNode):
                    stack.extend((b.nodes, level + 1) for b in n.branches)
                    deepest = max(deepest, level + 1)
                elif isinstance(n, MapNode | ExitHandlerNode):
                    stack.append((n.body, level + 1))
                    deepest = max(deepest, level + 1)
        depth[w.name] = deepest
    return depth[doc.workflow.name]


def effective(template: TaskTemplate, options: NodeOptions | None) -> TaskTemplate:
    """The template as one call of it runs: its policies with the call's own options applied."""
    if options is None:
        return template
    cache = template.cache
    if options.cache is not None or options.cache_version is not None:
        cache = CachePolicy(
            enabled=cache.enabled if options.cache is None else options.cache,
            version=cache.version if options.cache_version is None else options.cache_version,
        )
    return attrs.evolve(
        template,
        cache=cache,
        retry=options.retry or template.retry,
        timeout=template.timeout if options.timeout is None else options.timeout,
        resources=options.resources or template.resources,
    )
