"""Source locations and code digests."""

from __future__ import annotations

import ast
import enum
import hashlib
import inspect
import linecache
import os
import re
import site
import sys
import textwrap
from collections.abc import Callable, Sequence, Sized
from types import CodeType, FrameType, FunctionType, ModuleType
from typing import Any

from typedflow.dsl.srcpaths import stable_path
from typedflow.ir import SourceLoc
from typedflow.util.memo import IdentityMemo


def frame_loc(frame: FrameType) -> SourceLoc:
    return SourceLoc(stable_path(frame.f_code.co_filename, frame.f_globals.get("__name__")), frame.f_lineno)


_Span = tuple[int, int, int, int]  # line, end line, column, end column
_CALLS: dict[str, tuple[tuple[int, int], dict[_Span, ast.Call]]] = {}
# by identity: hashing a code object hashes all of it, and a workflow body of thousands of calls asks per call
_SPANS: IdentityMemo[CodeType, list[tuple[int | None, int | None, int | None, int | None]]] = IdentityMemo(64)


def argument_lines(frame: FrameType, npos: int | None, keywords: Sequence[str] = ()) -> dict[int | str, int]:
    """The line of each argument of the call ``frame`` is making, when the call spans several lines (a
    positional one by its index, a keyword one by its name), so that an argument's error is reported
    where the argument is written, as mypy reports it. Empty when the call is on one line, its source
    is unknown, or its arguments are not the ``npos`` positional and ``keywords`` given (a partial's;
    ``npos`` None: any)."""
    code = frame.f_code
    spans = _SPANS.get(code)
    if spans is None:
        spans = _SPANS.put(code, list(code.co_positions()))  # once per code object: a body makes many calls
    try:
        span = spans[frame.f_lasti // 2]
    except IndexError:
        return {}
    if None in span or span[0] == span[1]:
        return {}
    call = _calls_of(frame.f_code.co_filename).get(span)  # type: ignore[arg-type]
    if call is None or any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return {}
    if npos is not None and (len(call.args) != npos or [k.arg for k in call.keywords] != list(keywords)):
        return {}
    lines: dict[int | str, int] = {i: a.lineno for i, a in enumerate(call.args)}
    lines.update({k.arg: k.value.lineno for k in call.keywords if k.arg is not None})
    return lines


def _stamp(filename: str) -> tuple[int, int]:
    """Which version of a source file a parse of it is kept for (modified time and size)."""
    try:
        st = os.stat(filename)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _calls_of(filename: str) -> dict[_Span, ast.Call]:
    """Every call expression of a source file that spans several lines, by its span (parsed once per file
    version)."""
    stamp = _stamp(filename)
    kept = _CALLS.get(filename)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    linecache.checkcache(filename)
    text = "".join(linecache.getlines(filename))
    try:
        tree = ast.parse(text) if text else None
    except SyntaxError:
        tree = None
    found: dict[_Span, ast.Call] = {}
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call) and node.end_lineno is not None and node.end_lineno != node.lineno:
            found[(node.lineno, node.end_lineno, node.col_offset, node.end_col_offset or 0)] = node
    _CALLS[filename] = (stamp, found)
    return found


_DEF = re.compile(r"^\s*(async\s+)?def\s")


def func_loc(fn: Callable[..., Any]) -> SourceLoc:
    """The ``def`` line of a function (``co_firstlineno`` points at its first decorator)."""
    code = fn.__code__
    line = code.co_firstlineno
    for offset in range(40):
        text = linecache.getline(code.co_filename, line + offset)
        if not text:
            break
        if _DEF.match(text):
            line += offset
            break
    return SourceLoc(stable_path(code.co_filename, getattr(fn, "__module__", None)), line)


def _strip_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[1:]
    return body


# By file, with the (mtime, size) its functions were parsed at: one version per file is kept, so a module
# rewritten again and again (a notebook's) does not pile up its old syntax trees.
_MODULE_FUNCS: dict[str, tuple[tuple[int, int], dict[int, ast.FunctionDef | ast.AsyncFunctionDef]]] = {}


def _functions_of(filename: str) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of a source file by its first line (first decorator or ``def``), parsed
    once per file: decorating many tasks of one module costs one parse, not one per task."""
    stamp = _stamp(filename)
    kept = _MODULE_FUNCS.get(filename)
    found = kept[1] if kept is not None and kept[0] == stamp else None
    if found is None:
        found = {}
        linecache.checkcache(filename)  # the file may have been rewritten since it was cached
        text = "".join(linecache.getlines(filename))
        try:
            tree = ast.parse(text) if text else None
        except SyntaxError:
            tree = None
        # Functions are statements: walk statement blocks only, never into expressions.
        blocks: list[list[ast.stmt]] = [tree.body] if tree is not None else []
        while blocks:
            for node in blocks.pop():
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    found.setdefault(first, node)
                for field in ("body", "orelse", "finalbody", "handlers"):
                    sub = getattr(node, field, None)
                    if isinstance(sub, list) and sub:
                        blocks.append([s for s in sub if isinstance(s, ast.stmt)])
                for handler in getattr(node, "handlers", ()) or ():
                    blocks.append(handler.body)
        _MODULE_FUNCS[filename] = (stamp, found)
    return found


def function_ast(fn: Callable[..., Any]) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, int] | None:
    """The function's AST and the offset that makes its line numbers absolute."""
    code = fn.__code__
    node = _functions_of(code.co_filename).get(code.co_firstlineno)
    if node is not None and node.name == code.co_name:
        return node, 0
    try:  # a function whose file changed since import, or created by exec: its own source
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    for sub in tree.body:
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            # getsource() starts at the first decorator, which is where co_firstlineno points.
            return sub, code.co_firstlineno - 1
    return None


def _fingerprint(nodes: list[ast.stmt], args: ast.arguments, returns: ast.expr | None) -> str:
    """A canonical text of AST nodes: node types and field values, no positions."""
    out: list[str] = []
    stack: list[Any] = [returns, args, nodes]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.AST):
            out.append(type(n).__name__)
            stack.extend(getattr(n, name, None) for name in reversed(n._fields))
        elif isinstance(n, list):
            out.append(f"[{len(n)}")
            stack.extend(reversed(n))
        else:
            out.append(repr(n))
    return "\x00".join(out)


def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 of what the function does: its normalized source (its AST without decorators, docstring,
    comments, formatting or line numbers, so a formatter run does not invalidate caches), and what it
    reads from its modules: the functions and classes of the project it calls (followed in turn) and
    the values of module constants. Code of installed packages and the standard library is left out:
    the environment pins it."""
    parts = sorted(_closure(fn).items())
    text = "\x01".join(f"{name}\x02{body}" for name, body in parts)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _function_text(fn: Callable[..., Any]) -> tuple[str, ast.FunctionDef | ast.AsyncFunctionDef | None]:
    found = function_ast(fn)
    if found is not None:
        node = found[0]
        return node.name + "\x00" + _fingerprint(_strip_docstring(node), node.args, node.returns), node
    code = fn.__code__  # no source (REPL, exec): the bytecode and constants
    return repr((code.co_code, code.co_consts, code.co_names)), None


_LIBRARY_ROOTS = tuple(
    {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages())}
    | {os.path.dirname(os.path.dirname(os.path.realpath(__file__)))}
)
_MAX_ITEMS = 100_000  # a module constant larger than this counts by its type and size, not its value


def _project_code(obj: Any, package: str) -> bool:
    """Whether ``obj`` (a function, class or module) is the project's code, not a library's: in the
    task's own top-level ``package`` (wherever that is installed), or outside every library folder."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "") if not isinstance(obj, ModuleType) else obj
    name = getattr(module, "__name__", "") or ""
    if name.split(".")[0] == package:
        return True
    path = getattr(module, "__file__", None)
    if path is None:
        return getattr(module, "__name__", "") == "__main__"
    real = os.path.realpath(path)
    return not any(real.startswith(root + os.sep) for root in _LIBRARY_ROOTS)


def _closure(fn: Callable[..., Any]) -> dict[str, str]:
    """The text of ``fn`` and of everything of the project it reads, by qualified name (no recursion)."""
    out: dict[str, str] = {}
    root = getattr(fn, "__module__", None) or ""
    package = root.split(".")[0]
    stack: list[tuple[str, Any]] = [("", fn)]  # the function itself counts by its text alone, not its module
    while stack:
        name, obj = stack.pop()
        obj = getattr(obj, "fn", obj) if hasattr(obj, "signature") else obj  # a Task or Workflow: its function
        if isinstance(obj, FunctionType):
            key = name if not out else _where(obj.__module__, root) + obj.__qualname__
            if key in out:
                continue
            text, node = _function_text(obj)
            out[key] = text
            for dep, value in _reads(obj, node, package, root):
                stack.append((dep, value))
        elif isinstance(obj, type):
            key = _where(obj.__module__, root) + obj.__qualname__
            if key not in out:
                out[key] = _class_text(obj)
        else:
            out.setdefault(name, _value_text(obj))
    return out


def _reads(
    fn: FunctionType, node: ast.FunctionDef | ast.AsyncFunctionDef | None, package: str, root: str
) -> list[tuple[str, Any]]:
    """The globals and closure cells ``fn`` reads that are the project's code or plain values."""
    if node is None:
        names = set(fn.__code__.co_names)
        attrs: set[tuple[str, str]] = set()
    else:
        names, attrs = _loaded_names(node)
    found: list[tuple[str, Any]] = []
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False))
    scope = fn.__globals__
    where = _where(fn.__module__, root)
    for n in sorted(names):
        if n in cells:
            try:
                value = cells[n].cell_contents
            except ValueError:  # an empty cell
                continue
        elif n in scope:
            value = scope[n]
        else:
            continue  # a builtin, or a local of a nested function
        if isinstance(value, ModuleType):
            if _project_code(value, package):
                for base, attr in attrs:
                    if base == n and hasattr(value, attr):
                        member = getattr(value, attr)
                        if _followed(member, package):
                            found.append((_where(value.__name__, root) + attr, member))
            continue
        if _followed(value, package):
            found.append((where + n, value))
        elif not callable(value) and not isinstance(value, type):
            found.append((where + n, value))
    return found


def _where(module: str, root: str) -> str:
    """How a name of ``module`` is keyed in a digest of a function of ``root``: relative in its own module
    (a module's name changes, e.g. a script is ``__mp_main__`` in a worker process), else absolute."""
    return ":" if module == root or {module, root} == {"__main__", "__mp_main__"} else module + ":"


def _followed(value: Any, package: str) -> bool:
    if hasattr(value, "signature") and isinstance(getattr(value, "fn", None), FunctionType):
        return _project_code(value.fn, package)
    return isinstance(value, FunctionType | type) and _project_code(value, package)


def _loaded_names(node: ast.AST) -> tuple[set[str], set[tuple[str, str]]]:
    """Names read in ``node`` that it does not bind itself, and ``name.attr`` reads."""
    loaded: set[str] = set()
    bound: set[str] = set()
    attrs: set[tuple[str, str]] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loaded if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            attrs.add((sub.value.id, sub.attr))
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and sub is not node:
            bound.add(sub.name)
    return loaded - bound, attrs


def _class_text(cls: type) -> str:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return f"class {cls.__qualname__}"
    return _fingerprint(tree.body, ast.arguments([], [], None, [], [], None, []), None)


def _value_text(value: Any) -> str:
    """A module constant as it counts for a digest: its value when it is plain data, else its type."""
    if isinstance(value, enum.Enum):
        return repr(value)
    if _plain(value, 0):
        return _canonical_repr(value)
    kind = type(value)
    size = f" len {len(value)}" if isinstance(value, Sized) else ""
    return f"<{kind.__module__}.{kind.__qualname__}{size}>"


def _canonical_repr(value: Any) -> str:
    """``repr``, with sets in sorted order (a set's order changes from one process to the next)."""
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}({{{', '.join(sorted(_canonical_repr(v) for v in value))}}})"
    if isinstance(value, list | tuple):
        inner = ", ".join(_canonical_repr(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_canonical_repr(k)}: {_canonical_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _plain(value: Any, depth: int) -> bool:
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return True
    if depth > 20:
        return False
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) <= _MAX_ITEMS and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= _MAX_ITEMS and all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def default_lines(fn: Callable[..., Any]) -> dict[str, int]:
    """The line of each parameter's default in ``fn``'s signature, by parameter name (a signature written over
    several lines has them on lines of their own, where mypy reports a default of the wrong type)."""
    found = function_ast(fn)
    if found is None:
        return {}
    node, offset = found
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    pairs = list(zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True))
    pairs += [(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
    return {p.arg: d.lineno + offset for p, d in pairs}


def _returns(fn: Callable[..., Any]) -> tuple[list[ast.Return], int]:
    """The ``return`` statements in ``fn``'s body in source order (not those of functions defined in it: a
    map_over body's ``return`` is not the workflow's), and the offset that makes their lines absolute."""
    found = function_ast(fn)
    if found is None:
        return [], 0
    node, offset = found
    returns: list[ast.Return] = []
    stack: list[ast.AST] = list(ast.iter_child_nodes(node))
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(sub, ast.Return):
            returns.append(sub)
        stack.extend(ast.iter_child_nodes(sub))
    return sorted(returns, key=lambda r: (r.lineno, r.col_offset)), offset


def return_lines(fn: Callable[..., Any]) -> list[int]:
    """Absolute line numbers of the ``return`` statements in ``fn``'s body, in source order."""
    returns, offset = _returns(fn)
    return [r.lineno + offset for r in returns]


def returned_arguments(fn: Callable[..., Any]) -> dict[int | str, int]:
    """When ``fn``'s last ``return`` returns a call (a record built there, ``return Report(acc, name=n)``): the
    line of each of its arguments, positional by index, keyword by name; else empty."""
    returns, offset = _returns(fn)
    call = returns[-1].value if returns else None
    if not isinstance(call, ast.Call) or any(isinstance(a, ast.Starred) for a in call.args):
        return {}
    lines: dict[int | str, int] = {i: a.lineno + offset for i, a in enumerate(call.args)}
    lines.update({k.arg: k.value.lineno + offset for k in call.keywords if k.arg is not None})
    return lines


_BRANCH_CALLS = frozenset({"when", "orwhen", "otherwise"})


def returns_in_branches(fn: Callable[..., Any]) -> list[int]:
    """Absolute lines of ``return`` statements inside ``with when(...)`` / ``orwhen(...)`` / ``otherwise()`` blocks of
    ``fn`` (of a nested function too, where the block is in that function)."""
    found = function_ast(fn)
    if found is None:
        return []
    node, offset = found
    lines: list[int] = []
    stack: list[tuple[ast.AST, bool]] = [(child, False) for child in ast.iter_child_nodes(node)]
    while stack:
        sub, inside = stack.pop()
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend((child, False) for child in ast.iter_child_nodes(sub))  # its own blocks count anew
            continue
        if isinstance(sub, ast.Return) and inside:
            lines.append(sub.lineno + offset)
        branch = isinstance(sub, ast.With) and any(_is_branch_call(item.context_expr) for item in sub.items)
        stack.extend((child, inside or branch) for child in ast.iter_child_nodes(sub))
    return sorted(lines)


def _is_branch_call(e: ast.expr) -> bool:
    if not isinstance(e, ast.Call):
        return False
    f = e.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name in _BRANCH_CALLS
