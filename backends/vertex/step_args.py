"""The JSON arguments a compiled spec gives a task container, checked all the way down before anything reads
them (``--task``, ``--value``, ``--outputs``, ``--const``; of ``--fail`` and ``--tolerance`` the fields used as
keys): a spec edited by hand gets an error naming the field that is wrong (``--task: plan.x.path must be a list,
not a string``), never a traceback. A task template is checked against the IR schema's own definition; a type
(compact JSON) by reading it."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final

from typedflow.ir import TaskTemplate, TypeRef
from typedflow.ir.codec import IR_MAX_DEPTH, converter, schema
from typedflow.util.boundary import BoundaryError, parse_json

from .executor_input import describe_error, json_kind

if TYPE_CHECKING:
    import jsonschema

_STR: Final = {"type": "string"}
_NAMES: Final = {"type": "array", "items": _STR}
_PLAN_KINDS: Final = ("in", "fields", "record", "oneof", "failure", "caught")

_PLAN: Final = {
    "type": "object",
    "properties": {
        "in": _STR,
        "path": _NAMES,
        "present": _STR,
        "fields": {"type": "object", "additionalProperties": _STR},
        "record": {"type": "object", "additionalProperties": {"$ref": "#/$defs/StepPlan"}},
        "oneof": {"type": "array", "items": {"$ref": "#/$defs/StepPlan"}},
        "failure": _STR,
        "none_if_succeeded": {"type": "boolean"},
        "caught": _NAMES,
    },
    "anyOf": [{"required": [k]} for k in _PLAN_KINDS],
}
_COMMON: Final = {"lists": _NAMES, "upstream": _NAMES, "tolerate": _STR}

MODES: Final[dict[str, dict[str, Any]]] = {
    "--task": {
        "required": ["template", "workflow", "node", "plan", "ir_digest"],
        "properties": {
            **_COMMON,
            "template": {"$ref": "#/$defs/StepTemplate"},
            "workflow": _STR,
            "node": _STR,
            "ir_digest": _STR,
            "plan": {"type": "object", "additionalProperties": {"$ref": "#/$defs/StepPlan"}},
            "ran": _STR,
            "on_failure": {"type": "boolean"},
            "caught": _NAMES,
        },
    },
    "--value": {
        "required": ["type", "plan"],
        "properties": {**_COMMON, "type": _STR, "plan": {"$ref": "#/$defs/StepPlan"}},
    },
    "--outputs": {
        "required": ["types"],
        "properties": {
            "lists": _NAMES,
            "types": {"type": "object", "additionalProperties": _STR},
            "single": {"type": "boolean"},
        },
    },
    "--const": {"required": ["outputs"], "properties": {"outputs": {"type": "object"}}},
    # the fields these two read are checked by them (their order and messages); here only those used as keys
    "--fail": {"properties": {**_COMMON, "node": _STR}},
    "--tolerance": {"properties": {**_COMMON, "node": _STR}},
}


def _with_ir_defs(root: dict[str, Any]) -> dict[str, Any]:
    defs = schema()["$defs"]
    # the compiler leaves a template's source location out of the spec (see components.template_json)
    template = {**defs["TaskTemplate"], "required": [k for k in defs["TaskTemplate"]["required"] if k != "loc"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **root,
        "$defs": {**defs, "StepPlan": _PLAN, "StepTemplate": template},
    }


@functools.cache
def _validator(flag: str) -> jsonschema.protocols.Validator:
    import jsonschema

    root = _with_ir_defs({"type": "object", **MODES[flag]})
    cls = jsonschema.validators.validator_for(root)
    validator: jsonschema.protocols.Validator = cls(root)
    return validator


def _check(validator: jsonschema.protocols.Validator, value: Any, what: str) -> None:
    errors = list(validator.iter_errors(value))
    if errors:
        where, why = describe_error(errors, plan_kinds=_PLAN_KINDS)
        raise BoundaryError(f"{what}: {where} {why}")


def step_arg(text: str, flag: str) -> dict[str, Any]:
    """The argument of ``flag``, a JSON object of the shape its mode reads."""
    payload = parse_json(text, flag, max_depth=IR_MAX_DEPTH)  # it holds types and templates, nested as IR is
    if not isinstance(payload, dict):
        raise BoundaryError(f"{flag}: not a JSON object")
    _check(_validator(flag), payload, flag)
    return payload


def template(payload: dict[str, Any]) -> TaskTemplate:
    """The task template of a checked ``--task`` argument."""
    try:
        result: TaskTemplate = converter.structure(payload["template"], TaskTemplate)
    except Exception as exc:  # the schema should have caught it; say so all the same
        raise BoundaryError(f"--task: template cannot be read: {str(exc)[:200]}") from None
    return result


def type_arg(text: Any, what: str) -> TypeRef:
    """A type the spec gives as the JSON text of an IR type (``--value``'s ``type``, each of ``--outputs``'s)."""
    if not isinstance(text, str):
        raise BoundaryError(f"{what} must be a string (an IR type's JSON)")
    value = parse_json(text, what, max_depth=IR_MAX_DEPTH)
    if not isinstance(value, dict):  # the compact form type_json writes (defaults left out): no schema of its own
        raise BoundaryError(f"{what} must be an IR type's JSON object, not {json_kind(value)}")
    try:
        result: TypeRef = converter.structure(value, TypeRef)
    except Exception as exc:
        raise BoundaryError(f"{what} cannot be read as a type: {str(exc)[:200]}") from None
    return result


__all__ = ["MODES", "step_arg", "template", "type_arg"]
