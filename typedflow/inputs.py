"""Workflow inputs: parsed from the command line, checked against the workflow's types, files stored.

One implementation for every target: ``typedflow run``, ``typedflow start`` and ``typedflow deploy``
accept and reject exactly the same inputs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from typedflow import ir
from typedflow.errors import InputError
from typedflow.runtime.execute import has_files, map_files
from typedflow.types import check_json, render

PutFn = Callable[[Path, bool], tuple[str, str]]
"""Store a local file (False) or directory (True); return (uri, sha256)."""


def _unknown(name: str, known: Sequence[str]) -> str:
    return f'unknown input "{name}" (the workflow takes: {", ".join(sorted(known)) or "nothing"})'


def parse_inputs(
    doc: ir.WorkflowIR, pairs: Sequence[str], inputs_file: str | None, *, local_files: bool = True
) -> dict[str, Any]:
    """``name=value`` pairs (and a JSON file of inputs) parsed by each input's declared type: raw text
    for str-like types, a path (absolute when ``local_files``) or URI for files, JSON otherwise."""
    values: dict[str, Any] = {}
    if inputs_file:
        try:
            loaded = json.loads(Path(inputs_file).read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read {inputs_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise InputError(f"{inputs_file} must hold a JSON object of inputs by name")
        values.update(loaded)
    params = {p.name: p for p in doc.workflow.inputs}
    errors: list[str] = []
    unparsed: set[str] = set()
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            errors.append(f"--input {pair!r}: expected name=value")
            continue
        p = params.get(name)
        if p is None:
            errors.append(_unknown(name, list(params)))
            continue
        optional = p.type.kind == "optional"
        t = p.type.args[0] if optional else p.type
        if optional and raw == "null":  # JSON's null is None; the text "null" is written '"null"'
            values[name] = None
        elif t.kind in ("str", "bytes", "datetime", "date", "enum") and not raw.startswith('"'):
            values[name] = raw
        elif t.kind in ("file", "directory"):
            uri = str(Path(raw).absolute()) if local_files and "://" not in raw else raw
            values[name] = {"uri": uri, "sha256": None, "format": t.name}
        else:
            try:
                values[name] = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(f'input "{name}": expected {render(p.type)} as JSON, got {raw!r}')
                unparsed.add(name)
                values.pop(name, None)
    if errors:  # report the rest too (wrong types, missing inputs): every problem at once
        errors += _problems(doc, values, skip=unparsed)[1]
        raise InputError("; ".join(errors))
    return values


def check_inputs(doc: ir.WorkflowIR, given: Mapping[str, Any]) -> dict[str, Any]:
    """Typed-JSON inputs checked against the workflow's types, defaults filled in; every problem
    is reported at once in one :class:`InputError`."""
    out, errors = _problems(doc, given)
    if errors:
        raise InputError("; ".join(errors))
    return out


def _problems(
    doc: ir.WorkflowIR, given: Mapping[str, Any], skip: Set[str] = frozenset()
) -> tuple[dict[str, Any], list[str]]:
    """(checked inputs with defaults, problems); ``skip``: given inputs already reported as unreadable."""
    wf = doc.workflow
    known = [p.name for p in wf.inputs]
    errors = [_unknown(n, known) for n in given if n not in known]
    out: dict[str, Any] = {}
    for p in wf.inputs:
        if p.name in skip:
            continue
        if p.name not in given:
            if p.has_default:
                out[p.name] = p.default
            else:
                errors.append(f'missing input "{p.name}" ({render(p.type)})')
            continue
        value = with_field_defaults(given[p.name], p.type)
        err = check_json(value, p.type, f'input "{p.name}"')
        if err:
            errors.append(err)
        else:
            out[p.name] = value
    return out, errors


def with_field_defaults(value: Any, t: ir.TypeRef) -> Any:
    """``value`` with the defaults of the record fields it leaves out filled in, at any depth (a new
    value where something was filled; the given one is not changed). What does not match ``t`` is left
    for :func:`check_json` to report."""
    if not _defaulted(t):
        return value
    k = t.kind
    if k == "optional":
        return None if value is None else with_field_defaults(value, t.args[0])
    if k == "list" and isinstance(value, list):
        return [with_field_defaults(v, t.args[0]) for v in value]
    if k == "dict" and isinstance(value, dict):
        return {key: with_field_defaults(v, t.args[0]) for key, v in value.items()}
    if k == "tuple" and isinstance(value, list) and len(value) == len(t.args):
        return [with_field_defaults(v, a) for v, a in zip(value, t.args, strict=True)]
    if k == "record" and isinstance(value, dict):
        out = dict(value)
        for f in t.fields:
            if f.name in out:
                out[f.name] = with_field_defaults(out[f.name], f.type)
            elif f.has_default:
                out[f.name] = copy.deepcopy(f.default)
        return out
    return value


def _defaulted(t: ir.TypeRef) -> bool:
    """Whether values of ``t`` can hold a record with a field default."""
    if t.kind == "record":
        return any(f.has_default or _defaulted(f.type) for f in t.fields)
    return any(_defaulted(a) for a in t.args)


def store_input_files(doc: ir.WorkflowIR, values: dict[str, Any], put: PutFn) -> dict[str, Any]:
    """Local files among the inputs put into the target's store (remote URIs are left as they are).
    Every missing or mistyped path is reported at once, before anything is stored."""
    # Only the inputs whose types can hold files are walked (a long list of numbers is not).
    types = {p.name: p.type for p in doc.workflow.inputs if has_files(p.type)}
    errors: list[str] = []

    def check(name: str) -> Callable[[dict[str, Any], ir.TypeRef], dict[str, Any]]:
        def visit(v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
            path = _local(v)
            is_dir = t.kind == "directory"
            if path is None:
                pass
            elif not path.exists():
                errors.append(f'input "{name}": {"directory" if is_dir else "file"} {path} does not exist')
            elif path.is_dir() != is_dir:
                errors.append(f'input "{name}": {path} is not a {"directory" if is_dir else "file"}')
            return v

        return visit

    for k, v in values.items():
        if k in types:
            map_files(v, types[k], check(k))
    if errors:
        raise InputError("; ".join(errors))

    def store(v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
        path = _local(v)
        if path is None:
            return v
        new_uri, sha = put(path, t.kind == "directory")
        fmt = v.get("format")
        return {"uri": new_uri, "sha256": sha, "format": t.name if fmt in (None, "typedflow.formats:Format") else fmt}

    return {k: map_files(v, types[k], store) if k in types else v for k, v in values.items()}


def _local(v: dict[str, Any]) -> Path | None:
    """The local path a file input names, or None for a remote URI."""
    uri = str(v["uri"])
    if "://" in uri and not uri.startswith("file://"):
        return None
    return Path(uri.removeprefix("file://"))
