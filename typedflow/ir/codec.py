"""The IR converter: IR ⇄ canonical JSON, with ``ir.schema.json`` enforced on load."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from typedflow import ir
from typedflow.errors import IRValidationError
from typedflow.ir.canonical import canonical_json, sha256_hex
from typedflow.ir.checks import check_document
from typedflow.util.boundary import BoundaryError, check_depth, parse_json
from typedflow.util.memo import IdentityMemo

if TYPE_CHECKING:  # jsonschema is imported when an IR document is first loaded (a third of import time)
    import jsonschema

converter = cattrs.Converter(forbid_extra_keys=True)

_IR_CLASSES = [
    ir.SourceLoc,
    ir.Field,
    ir.ColumnCheck,
    ir.Column,
    ir.Schema,
    ir.TypeRef,
    ir.Param,
    ir.InputRef,
    ir.OutputRef,
    ir.ItemRef,
    ir.Const,
    ir.OneOf,
    ir.Arg,
    ir.RecordOf,
    ir.Compare,
    ir.And,
    ir.Or,
    ir.Not,
    ir.RetryPolicy,
    ir.ResourceSpec,
    ir.CachePolicy,
    ir.NodeOptions,
    ir.EnvironmentSpec,
    ir.TaskTemplate,
    ir.TaskNode,
    ir.Branch,
    ir.ConditionalNode,
    ir.MapNode,
    ir.SubWorkflowNode,
    ir.FailNode,
    ir.ExitHandlerNode,
    ir.OnFailure,
    ir.Workflow,
    ir.WorkflowIR,
]
for _cls in _IR_CLASSES:
    attrs.resolve_types(_cls, globalns=vars(ir))


def _unstructure_field(f: ir.Field) -> dict[str, Any]:
    # A field without a default is written as before fields could have one: the same record type
    # keeps the same JSON, and its IR the same digest.
    data: dict[str, Any] = {"name": f.name, "type": converter.unstructure(f.type, ir.TypeRef)}
    if f.has_default:
        data["has_default"] = True
        data["default"] = f.default
    return data


converter.register_unstructure_hook(ir.Field, _unstructure_field)


# Registered after Field's hook, which the generated function takes in.
# A type without a column schema has no "schema" key: IR documents written before schemas existed
# keep their bytes and digests.
converter.register_unstructure_hook(
    ir.TypeRef, make_dict_unstructure_fn(ir.TypeRef, converter, schema=override(omit_if_default=True))
)

# After TypeRef's hook, which these take in. A node that waits for no sibling has no "after" key:
# documents keep their bytes and digests.
for _node_cls in (ir.ConditionalNode, ir.SubWorkflowNode, ir.FailNode, ir.ExitHandlerNode):
    converter.register_unstructure_hook(
        _node_cls, make_dict_unstructure_fn(_node_cls, converter, after=override(omit_if_default=True))
    )
converter.register_unstructure_hook(
    ir.MapNode,
    make_dict_unstructure_fn(
        ir.MapNode,
        converter,
        after=override(omit_if_default=True),
        distributed=override(omit_if_default=True),
        tolerated_failure=override(omit_if_default=True),
    ),
)
converter.register_unstructure_hook(
    ir.TaskNode,
    make_dict_unstructure_fn(
        ir.TaskNode, converter, after=override(omit_if_default=True), options=override(omit_if_default=True)
    ),
)

# An environment is written only when there is one: IR without environments keeps its JSON and digest
# (a task's variables and secrets likewise).
converter.register_unstructure_hook(
    ir.Workflow, make_dict_unstructure_fn(ir.Workflow, converter, environment=override(omit_if_default=True))
)
converter.register_unstructure_hook(
    ir.TaskTemplate,
    make_dict_unstructure_fn(
        ir.TaskTemplate,
        converter,
        environment=override(omit_if_default=True),
        env=override(omit_if_default=True),
        secrets=override(omit_if_default=True),
    ),
)


def _tagged(union: Any, classes: list[type]) -> None:
    by_kind = {attrs.fields_dict(c)["kind"].default: c for c in classes}

    def structure(data: Any, _: Any) -> Any:
        return converter.structure(data, by_kind[data["kind"]])

    converter.register_structure_hook_func(lambda t: t == union, structure)


_tagged(ir.Binding, [ir.InputRef, ir.OutputRef, ir.ItemRef, ir.Const, ir.OneOf, ir.FailureRef])
_tagged(ir.MapResult, [ir.InputRef, ir.OutputRef, ir.ItemRef, ir.Const, ir.OneOf, ir.FailureRef, ir.RecordOf])
_tagged(ir.Condition, [ir.Compare, ir.And, ir.Or, ir.Not])
_tagged(ir.Node, [ir.TaskNode, ir.ConditionalNode, ir.MapNode, ir.SubWorkflowNode, ir.FailNode, ir.ExitHandlerNode])
converter.register_structure_hook_func(lambda t: t is Any, lambda v, _: v)
# MapNode.distributed: the schema has checked it is a bool or "auto"
converter.register_structure_hook(bool | Literal["auto"], lambda v, _: v)


def to_data(doc: ir.WorkflowIR) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(doc)
    return data


# The canonical text of a digested document is remembered, so tracing (which computes the digest)
# and dumps() do not unstructure and encode a large IR twice.
_TEXT: IdentityMemo[ir.WorkflowIR, str] = IdentityMemo()
_EMPTY_DIGEST = '{"digest":"",'


def _canonical_without_digest(doc: ir.WorkflowIR) -> str:
    return canonical_json(to_data(attrs.evolve(doc, digest="")))


def compute_digest(doc: ir.WorkflowIR) -> str:
    """sha256 of the canonical JSON of the document with an empty ``digest``."""
    return "sha256:" + sha256_hex(_canonical_without_digest(doc).encode("utf-8"))


def with_digest(doc: ir.WorkflowIR) -> ir.WorkflowIR:
    text = _canonical_without_digest(doc)
    digest = "sha256:" + sha256_hex(text.encode("utf-8"))
    out = attrs.evolve(doc, digest=digest)
    # "digest" sorts first among the top-level keys, so the final text differs only there.
    if text.startswith(_EMPTY_DIGEST):
        _remember(out, '{"digest":"' + digest + '",' + text[len(_EMPTY_DIGEST) :])
    return out


def _remember(doc: ir.WorkflowIR, text: str) -> None:
    _TEXT.put(doc, text)


def dumps(doc: ir.WorkflowIR) -> str:
    """Canonical JSON text of the IR (byte-identical for the same workflow)."""
    known = _TEXT.get(doc)
    return known if known is not None else canonical_json(to_data(doc))


def dumps_pretty(doc: ir.WorkflowIR) -> str:
    from typedflow.util.prettyjson import pretty

    return pretty(to_data(doc), allow_nan=False) + "\n"


@cache
def schema() -> dict[str, Any]:
    text = resources.files("typedflow.ir").joinpath("ir.schema.json").read_text("utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


@cache
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    validator: jsonschema.protocols.Validator = cls(schema())
    return validator


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


IR_MAX_BYTES = 256 * 1024 * 1024
# JSON levels. A `when` block nests its nodes four levels deeper (node, branches, branch, nodes), a
# map_over or exit handler block two, a sub-workflow call none (sub-workflows are listed side by side):
# ir.MAX_NESTING blocks of `when` take 400 levels, and 112 are left for what the innermost node holds
# (its arguments' literal values, types and conditions). Deeper documents are refused before anything
# recursive reads them.
IR_MAX_DEPTH = 4 * ir.MAX_NESTING + 112


def loads(text: str | bytes) -> ir.WorkflowIR:
    """Parse and validate an IR document (size, nesting, schema, structure, digest); raises
    :class:`IRValidationError` with the JSON path of the first problem."""
    try:
        data = parse_json(text, "IR document", max_bytes=IR_MAX_BYTES, max_depth=IR_MAX_DEPTH)
    except BoundaryError as exc:
        raise IRValidationError("$", str(exc).removeprefix("IR document: ")) from None
    return from_data(data)


@cache
def _fast_validator() -> Any:
    """The schema compiled to Python by fastjsonschema: about fifteen times faster than jsonschema on
    a large document, which is then asked only to describe what is wrong with a document this one
    rejects."""
    import fastjsonschema

    # a copy: fastjsonschema rewrites the "#/$defs/..." references of what it compiles in place (to
    # absolute ones under the $id), and the shared schema() is read by others
    return fastjsonschema.compile(copy.deepcopy(schema()))


def _check_schema(data: Any) -> None:
    import fastjsonschema

    try:
        _fast_validator()(data)
        return
    except RecursionError:
        raise IRValidationError("$", f"nested more than the {IR_MAX_DEPTH} levels accepted") from None
    except fastjsonschema.JsonSchemaValueException as exc:
        fallback = IRValidationError(_json_path(exc.path[1:] if exc.path else ()), exc.message)
    try:
        errors = list(_validator().iter_errors(data))
    except RecursionError:
        raise fallback from None
    if errors:
        from jsonschema.exceptions import best_match

        best = best_match(errors)
        raise IRValidationError(_json_path(best.absolute_path), best.message)
    raise fallback


def from_data(data: Any) -> ir.WorkflowIR:
    """An IR document from parsed JSON, checked as :func:`loads` checks it."""
    check_depth_ir(data)
    _check_schema(data)
    try:
        doc = converter.structure(data, ir.WorkflowIR)
    except RecursionError:
        raise IRValidationError("$", f"nested more than the {IR_MAX_DEPTH} levels accepted") from None
    except Exception as exc:  # the schema should have caught it; report it all the same
        raise IRValidationError("$", f"cannot read IR: {exc}") from None
    check_document(doc)
    _check_environments(doc)
    if compute_digest(doc) != doc.digest:
        raise IRValidationError("$.digest", "does not match the document's content (edited after compilation?)")
    return doc


def _check_environments(doc: ir.WorkflowIR) -> None:
    """Environments reach Dockerfiles and container commands: each is checked as a declaration is."""
    from typedflow.dsl.environment import BadEnvironment, check

    found = [("$.workflow", doc.workflow.environment)]
    found += [(f"$.subworkflows[{i}]", w.environment) for i, w in enumerate(doc.subworkflows)]
    found += [(f"$.tasks[{i}]", t.environment) for i, t in enumerate(doc.tasks)]
    for where, spec in found:
        if spec is not None:
            try:
                check(spec)
            except BadEnvironment as exc:
                raise IRValidationError(where + ".environment", str(exc).removeprefix("environment: ")) from None


def check_depth_ir(data: Any) -> None:
    try:
        check_depth(data, "IR document", IR_MAX_DEPTH)
    except BoundaryError as exc:
        raise IRValidationError("$", str(exc).removeprefix("IR document: ")) from None
