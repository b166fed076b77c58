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

_DISPLAY: dict[str, str] = {}


def display_path(filename: str) -> str:
    """A path as the user typed it: relative to the working directory when under it."""
    try:
        return _DISPLAY[filename]
    except KeyError:
        pass
    shown = filename
    if os.path.isabs(filename):
        try:
            rel = os.path.relpath(filename)
            if not rel.startswith(".."):
                shown = rel
        except ValueError:
            pass
    _DISPLAY[filename] = shown
    return shown


def frame_loc(frame: FrameType) -> SourceLoc:
    return SourceLoc(display_path(frame.f_code.co_filename), frame.f_lineno)


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
    return SourceLoc(display_path(code.co_filename), line)


def _strip_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]


def function_ast(fn: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        src = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node
    return None


def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 of the function's normalized source: the AST without decorators, docstring,
    comments, formatting or line numbers, so only a change of behaviour changes it."""
    node = function_ast(fn)
    if node is not None:
        node.decorator_list = []
        _strip_docstring(node)
        text = ast.dump(node, annotate_fields=True, include_attributes=False)
    else:  # no source (REPL, exec): fall back to the bytecode and constants
        code = fn.__code__
        text = repr((code.co_code, code.co_consts, code.co_names))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def return_lines(fn: Callable[..., Any]) -> list[int]:
    """Absolute line numbers of the ``return`` statements directly in ``fn``'s body."""
    node = function_ast(fn)
    if node is None:
        return []
    # getsource() starts at the first decorator, which is where co_firstlineno points.
    offset = fn.__code__.co_firstlineno - 1
    lines = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Return):
            lines.append(sub.lineno + offset)
    return lines
