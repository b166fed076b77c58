"""Workflow inputs: parsed from the command line, checked against the workflow's types, files stored.

One implementation for every target: ``typedflow run``, ``typedflow start`` and ``typedflow deploy``
accept and reject exactly the same inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.dsl import constfiles
from typedflow.dsl.secret import REF as SECRET_REF
from typedflow.errors import InputError
from typedflow.ir import render
from typedflow.ir.types import check_json, normal_form
from typedflow.runtime.execute import has_files, map_files
from typedflow.util.boundary import MAX_JSON_BYTES, BoundaryError, check_depth, parse_json, regular_file

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
            regular_file(Path(inputs_file), "--inputs-file")
            with open(inputs_file, "rb") as fh:
                content = fh.read(MAX_JSON_BYTES + 1)
            loaded = parse_json(content, inputs_file)
        except OSError as exc:
            raise InputError(f"cannot read {inputs_file}: {exc.strerror or exc}") from None
        except BoundaryError as exc:
            raise InputError(str(exc)) from None
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
        elif t.kind == "secret":  # by reference: a value on a command line ends up in shell histories
            if raw.startswith("literal:") or SECRET_REF.fullmatch(raw) is None:
                errors.append(
                    f'input "{name}": a Secret is given by reference, env:NAME or file:PATH (its value never '
                    "goes on the command line)"
                )
                unparsed.add(name)
            else:
                values[name] = {"secret": raw}
        elif (t.kind in ("str", "bytes", "datetime", "date") or (t.kind == "enum" and t.flavor != "int")) and (
            not raw.startswith('"')
        ):  # plain text; an int enum's member is a number, read as JSON below
            values[name] = raw
        elif t.kind in ("file", "directory"):
            uri = str(Path(raw).absolute()) if local_files and "://" not in raw else raw
            values[name] = {"uri": uri, "sha256": None, "format": t.name}
        else:
            try:
                values[name] = parse_json(raw, f'input "{name}"')
                if t.kind == "float" and values[name] == 0 and raw.lstrip().startswith("-"):
                    values[name] = -0.0  # JSON reads -0 as the int 0: the sign is what the text says
            except BoundaryError as exc:
                shown = raw if len(raw) <= 80 else raw[:77] + "..."
                why = "" if ": not JSON (" in str(exc) else f" ({exc})"  # too big, too deep: say so
                errors.append(f'input "{name}": expected {render(p.type)} as JSON, got {shown!r}{why}')
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
        try:
            check_depth(given[p.name], f'input "{p.name}"')
        except BoundaryError as exc:
            errors.append(str(exc))
            continue
        value = with_field_defaults(given[p.name], p.type)
        err = check_json(value, p.type, f'input "{p.name}"')
        if err:
            errors.append(str(err))
        else:
            out[p.name] = normal_form(value, p.type)
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
            elif not is_dir:
                try:  # a FIFO or a device would block or never end: only regular files are read
                    regular_file(path, f'input "{name}"')
                except BoundaryError as exc:
                    errors.append(str(exc))
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


def store_constant_files(doc: ir.WorkflowIR, put: PutFn) -> ir.WorkflowIR:
    """``doc`` with every file or directory written as a constant in a workflow body stored like an input
    (so tasks read the content the IR recorded, see :mod:`typedflow.dsl.constfiles`). The document keeps its
    digest: it is the workflow's. A constant missing, or changed since the workflow was defined, is an
    :class:`InputError` naming where it is written."""

    def visit(v: dict[str, Any], ft: ir.TypeRef, where: str) -> dict[str, Any]:
        is_dir = ft.kind == "directory"
        path = find_constant(v, is_dir, where)
        if path is None:
            return v
        uri, sha = put(path, is_dir)
        if sha != v["sha256"]:
            raise InputError(f"{where}: the constant {_what(is_dir)} {path} changed since the workflow was defined")
        return {"uri": uri, "sha256": sha, "format": v.get("format") or ft.name}

    return map_constant_files(doc, visit)


def find_constant(v: dict[str, Any], is_dir: bool, where: str) -> Path | None:
    """The local file or directory a constant handle names; None for a remote URI. :class:`InputError`
    when it is missing, or was when the workflow was defined (the IR has no content for it)."""
    if constfiles.local_path(v) is None:
        return None
    path = constfiles.find(str(v["uri"]), is_dir)
    if path is None or v.get("sha256") is None:
        when = "" if path is None else " when the workflow was defined"
        raise InputError(f"{where}: the constant {_what(is_dir)} {v['uri']} did not exist{when}")
    return path


def _what(is_dir: bool) -> str:
    return "directory" if is_dir else "file"


ConstantFn = Callable[[dict[str, Any], ir.TypeRef, str], dict[str, Any]]


def map_constant_files(doc: ir.WorkflowIR, fn: ConstantFn) -> ir.WorkflowIR:
    """``doc`` with every file or directory handle written as a constant replaced by ``fn(handle, its
    type, where it is written)``; the same document when it has none."""
    templates = {t.name: t for t in doc.tasks}
    subs = {w.name: w for w in doc.subworkflows}
    if not any(_const_files(w, templates, subs) for w in (doc.workflow, *doc.subworkflows)):
        return doc

    def args(items: tuple[ir.Arg, ...], params: tuple[ir.Param, ...], where: str) -> tuple[ir.Arg, ...]:
        types = {p.name: p.type for p in params}
        out = []
        for a in items:
            t = types.get(a.param)
            if isinstance(a.value, ir.Const) and t is not None and has_files(t):
                at = _at(fn, f"{where}, argument {a.param!r}")
                a = attrs.evolve(a, value=ir.Const(map_files(a.value.value, t, at)))
            out.append(a)
        return tuple(out)

    def nodes(block: tuple[ir.Node, ...]) -> tuple[ir.Node, ...]:
        out: list[ir.Node] = []
        for n in block:
            where = str(n.loc)
            if isinstance(n, ir.TaskNode):
                n = attrs.evolve(n, args=args(n.args, templates[n.task].inputs, where))
            elif isinstance(n, ir.SubWorkflowNode):
                n = attrs.evolve(n, args=args(n.args, subs[n.workflow].inputs, where))
            elif isinstance(n, ir.MapNode):
                items = n.items
                if isinstance(items.value, ir.Const) and has_files(n.item_type):
                    t = ir.TypeRef("list", (n.item_type,))
                    value = map_files(items.value.value, t, _at(fn, f"{where}, map items"))
                    items = attrs.evolve(items, value=ir.Const(value))
                n = attrs.evolve(n, items=items, body=nodes(n.body))
            elif isinstance(n, ir.ConditionalNode):
                n = attrs.evolve(n, branches=tuple(attrs.evolve(b, nodes=nodes(b.nodes)) for b in n.branches))
            elif isinstance(n, ir.ExitHandlerNode):
                handler = attrs.evolve(n.handler, args=args(n.handler.args, templates[n.handler.task].inputs, where))
                n = attrs.evolve(n, body=nodes(n.body), handler=handler)
            out.append(n)
        return tuple(out)

    def workflow(w: ir.Workflow) -> ir.Workflow:
        on_failure = w.on_failure
        if on_failure is not None:
            where = str(on_failure.loc)
            on_failure = attrs.evolve(on_failure, args=args(on_failure.args, templates[on_failure.task].inputs, where))
        results = args(w.results, w.outputs, str(w.loc))
        return attrs.evolve(w, nodes=nodes(w.nodes), results=results, on_failure=on_failure)

    return attrs.evolve(doc, workflow=workflow(doc.workflow), subworkflows=tuple(map(workflow, doc.subworkflows)))


def _at(fn: ConstantFn, where: str) -> Callable[[dict[str, Any], ir.TypeRef], dict[str, Any]]:
    return lambda v, t: fn(v, t, where)


def _const_files(w: ir.Workflow, templates: dict[str, ir.TaskTemplate], subs: dict[str, ir.Workflow]) -> bool:
    """Whether ``w`` has a constant whose declared type can hold a file."""

    def any_file(items: tuple[ir.Arg, ...], params: tuple[ir.Param, ...]) -> bool:
        types = {p.name: p.type for p in params}
        return any(
            isinstance(a.value, ir.Const) and a.value.value is not None and has_files(types.get(a.param, _NONE))
            for a in items
        )

    if any_file(w.results, w.outputs):
        return True
    if w.on_failure is not None and any_file(w.on_failure.args, templates[w.on_failure.task].inputs):
        return True
    for n in ir.walk(w.nodes):
        if isinstance(n, ir.TaskNode) and any_file(n.args, templates[n.task].inputs):
            return True
        if isinstance(n, ir.SubWorkflowNode) and any_file(n.args, subs[n.workflow].inputs):
            return True
        if isinstance(n, ir.MapNode) and isinstance(n.items.value, ir.Const) and has_files(n.item_type):
            return True
    return False


_NONE = ir.TypeRef("none")
