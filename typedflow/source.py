"""Source locations and code digests."""

from __future__ import annotations

import ast
import hashlib
import inspect
import linecache
import os
import re
import textwrap
from collections.abc import Callable
from types import FrameType
from typing import Any

from typedflow.ir import SourceLoc
from typedflow.srcpaths import stable_path


def frame_loc(frame: FrameType) -> SourceLoc:
    return SourceLoc(stable_path(frame.f_code.co_filename, frame.f_globals.get("__name__")), frame.f_lineno)


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


_MODULE_FUNCS: dict[tuple[str, int, int], dict[int, ast.FunctionDef | ast.AsyncFunctionDef]] = {}


def _functions_of(filename: str) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of a source file by its first line (first decorator or ``def``), parsed
    once per file: decorating many tasks of one module costs one parse, not one per task."""
    try:
        st = os.stat(filename)
        key = (filename, st.st_mtime_ns, st.st_size)
    except OSError:
        key = (filename, 0, 0)
    found = _MODULE_FUNCS.get(key)
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
        _MODULE_FUNCS[key] = found
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
    """sha256 of the function's normalized source: its AST without decorators, docstring,
    comments, formatting or line numbers, so only a change of behaviour changes it (and a
    formatter run does not invalidate caches)."""
    found = function_ast(fn)
    if found is not None:
        node = found[0]
        text = node.name + "\x00" + _fingerprint(_strip_docstring(node), node.args, node.returns)
    else:  # no source (REPL, exec): fall back to the bytecode and constants
        code = fn.__code__
        text = repr((code.co_code, code.co_consts, code.co_names))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def return_lines(fn: Callable[..., Any]) -> list[int]:
    """Absolute line numbers of the ``return`` statements in ``fn``'s body."""
    found = function_ast(fn)
    if found is None:
        return []
    node, offset = found
    return [sub.lineno + offset for sub in ast.walk(node) if isinstance(sub, ast.Return)]
