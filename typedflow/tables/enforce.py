"""The run-time hook of typed tables: files with a column schema that a task receives or returns.

:func:`violation` is called by :func:`typedflow.runtime.execute.execute`, the one path every target
runs a task through, on the typed-JSON inputs before the task runs and on its outputs before they
are stored. What is checked (:mod:`typedflow.tables.check`): a Parquet file entirely, from its
footer, both ways; a CSV/TSV or JSONL file entirely when a task returns it, and its header (JSONL:
its first row) when a task receives it, the rows being checked as the task reads them through
:meth:`~typedflow.files.TypedFile.read_table`. A task without table files pays one dict look-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.files import resolve_uri
from typedflow.tables.columns import SchemaError
from typedflow.util.memo import IdentityMemo

# A directory's table files, by suffix in any case (as read_table takes them): PART.CSV is a CSV file.
_SUFFIXES = {"parquet": (".parquet", ".pq"), "csv": (".csv",), "tsv": (".tsv",), "jsonl": (".jsonl",)}

# Per parameter list (by identity): the parameters that hold table files with a schema.
_PLANS: IdentityMemo[tuple[ir.Param, ...], tuple[ir.Param, ...]] = IdentityMemo()


def has_schema(t: ir.TypeRef) -> bool:
    if t.kind in ("file", "directory"):
        return t.schema is not None
    if t.kind == "record":
        return any(has_schema(f.type) for f in t.fields)
    return any(has_schema(a) for a in t.args)


def _plan(params: tuple[ir.Param, ...]) -> tuple[ir.Param, ...]:
    known = _PLANS.get(params)
    if known is not None:
        return known
    return _PLANS.put(params, tuple(p for p in params if has_schema(p.type)))


def violation(params: tuple[ir.Param, ...], values: dict[str, Any], *, received: bool) -> str | None:
    """Why the table files among ``values`` (typed JSON by parameter name) break their schemas, or None."""
    tables = _plan(params)
    if not tables:
        return None
    for p in tables:
        for handle, t in _files(values.get(p.name), p.type):
            problem = _check(handle, t, received)
            if problem is not None:
                from typedflow.ir import render

                role = "input" if received else "output"
                return f'{role} "{p.name}" ({render(t)}, {handle.get("uri")}): {problem}'
    return None


def _files(data: Any, t: ir.TypeRef) -> list[tuple[dict[str, Any], ir.TypeRef]]:
    """The file handles in a typed-JSON value whose type has a schema."""
    if data is None:
        return []
    k = t.kind
    if k in ("file", "directory"):
        return [(data, t)] if t.schema is not None and isinstance(data, dict) else []
    if k == "optional":
        return _files(data, t.args[0])
    if k == "list" and isinstance(data, list):
        return [f for v in data for f in _files(v, t.args[0])]
    if k == "dict" and isinstance(data, dict):
        return [f for v in data.values() for f in _files(v, t.args[0])]
    if k == "tuple" and isinstance(data, list):
        return [f for v, a in zip(data, t.args, strict=False) for f in _files(v, a)]
    if k == "record" and isinstance(data, dict):
        return [f for fld in t.fields for f in _files(data.get(fld.name), fld.type)]
    return []


def _check(handle: dict[str, Any], t: ir.TypeRef, received: bool) -> str | None:
    from typedflow.tables.check import check_file, table_kind

    assert t.schema is not None
    kind = table_kind(t)
    if kind is None:
        return None  # a table format of the user's own: only its declared type is known
    is_dir = t.kind == "directory"
    path = f = Path(str(handle.get("uri")))
    try:
        path = f = resolve_uri(str(handle["uri"]), handle.get("sha256"), is_dir)
        suffixes = _SUFFIXES[kind]
        paths = (
            [path] if not is_dir else sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
        )
        if is_dir and not paths:
            return f"the directory has no {' or '.join(suffixes)} files"
        for f in paths:
            check_file(f, kind, t.schema, rows=not received or kind == "parquet")
    except SchemaError as exc:
        where = f"{f.relative_to(path)}: " if is_dir else ""
        return where + str(exc)
    except (OSError, RuntimeError) as exc:
        return f"cannot read it: {exc}"
    return None


__all__ = ["has_schema", "violation"]
