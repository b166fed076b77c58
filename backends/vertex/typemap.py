"""typedflow types ⇄ KFP parameter/artifact types, and value coercion back to declared types.

Vertex carries parameters as ``google.protobuf.Value``: every number is a double and records are
plain maps. The exact typedflow type travels with each definition (in ``description``) so a
value read back is coerced to what the task declared.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from typedflow import ir
from typedflow.ir.canonical import canonical_json
from typedflow.ir.codec import converter as ir_converter

from .spec import ArtifactSpec, ParameterSpec

STRING, INT, DOUBLE, BOOL, LIST, STRUCT = (
    "STRING",
    "NUMBER_INTEGER",
    "NUMBER_DOUBLE",
    "BOOLEAN",
    "LIST",
    "STRUCT",
)
TYPE_PREFIX = "typedflow:"
"""``description`` of a definition: this prefix, then the canonical JSON of the TypeRef."""

_SCALARS = {
    "bool": BOOL,
    "int": INT,
    "float": DOUBLE,
    "str": STRING,
    "bytes": STRING,
    "datetime": STRING,
    "date": STRING,
}


class VertexTypeError(TypeError):
    """A typedflow type that has no Vertex representation."""


def parameter_type(t: ir.TypeRef) -> str:
    """The KFP ``parameterType`` of a value type (files nested in containers travel as handles)."""
    k = t.kind
    if k == "optional":
        return parameter_type(t.args[0])
    if k in _SCALARS:
        return _SCALARS[k]
    if k == "enum":
        return INT if t.flavor == "int" else STRING
    if k in ("list", "tuple"):
        return LIST
    if k in ("dict", "record", "file", "directory", "none", "any"):
        return STRUCT
    raise VertexTypeError(f"no Vertex parameter type for {t}")


def is_artifact_type(t: ir.TypeRef) -> bool:
    """Whether a task output of this type is a Vertex artifact (a top-level file or directory)."""
    return t.kind in ("file", "directory")


def is_artifact_list(t: ir.TypeRef) -> bool:
    """Whether ``t`` is a list of files or directories: a ``map_over`` collects those as an artifact list
    (``isArtifactList``, as kfp compiles ``dsl.Collected`` of artifacts)."""
    return t.kind == "list" and bool(t.args) and is_artifact_type(t.args[0])


def schema_title(t: ir.TypeRef) -> str:
    """The artifact schema of a file type: its format class's ``schema_title``."""
    from typedflow.formats import BUILTIN, format_key

    by_key = {format_key(f): f.schema_title for f in BUILTIN}
    for name in (t.name, *t.lineage):
        if name in by_key:
            return by_key[name]
        cls = _load_format(name)
        if cls is not None:
            return str(cls.schema_title)
    return "system.Artifact"


def _load_format(key: str) -> Any:
    """The Format class named ``module:Qualname`` when it is already imported (never imports)."""
    import sys

    module, _, qual = key.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qual.split(".") if obj is not None else ():
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and hasattr(obj, "schema_title") else None


def _compact(data: Any) -> Any:
    """A TypeRef's JSON without its empty fields (every default of a TypeRef is empty)."""
    if isinstance(data, dict):
        return {k: _compact(v) for k, v in data.items() if v not in ("", [], (), None)}
    if isinstance(data, list):
        return [_compact(v) for v in data]
    return data


@functools.lru_cache(maxsize=1024)  # a few types serve every node of a large pipeline; the text is immutable
def type_json(t: ir.TypeRef) -> str:
    return canonical_json(_compact(ir_converter.unstructure(t)))


def type_from_json(text: str) -> ir.TypeRef:
    result: ir.TypeRef = ir_converter.structure(json.loads(text), ir.TypeRef)
    return result


def describe(t: ir.TypeRef) -> str:
    """The ``description`` that records a definition's exact typedflow type."""
    return TYPE_PREFIX + type_json(t)


def type_from_description(text: str) -> ir.TypeRef | None:
    if not text.startswith(TYPE_PREFIX):
        return None
    return type_from_json(text[len(TYPE_PREFIX) :])


def parameter_def(t: ir.TypeRef, *, optional: bool = False) -> ParameterSpec:
    d: ParameterSpec = {"parameterType": parameter_type(t), "description": describe(t)}
    if optional:
        d["isOptional"] = True
    return d


def artifact_def(t: ir.TypeRef) -> ArtifactSpec:
    """An artifact's definition; a list of files is an artifact list of its element's schema."""
    many = is_artifact_list(t)
    d: ArtifactSpec = {
        "artifactType": {"schemaTitle": schema_title(t.args[0] if many else t), "schemaVersion": "0.0.1"},
        "description": describe(t),
    }
    if many:
        d["isArtifactList"] = True
    return d


def coerce(value: Any, t: ir.TypeRef) -> Any:
    """``value`` as typed JSON of ``t``: integral doubles back to ints where ints are declared."""
    if value is None:
        return None
    k = t.kind
    if k == "optional":
        return coerce(value, t.args[0])
    if k == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if k == "enum" and isinstance(value, float) and value.is_integer():
        return int(value) if str(int(value)) in t.members else value
    if k == "list" and isinstance(value, list):
        return [coerce(v, t.args[0]) for v in value]
    if k == "tuple" and isinstance(value, list):
        return [coerce(v, a) for v, a in zip(value, t.args, strict=False)]
    if k == "dict" and isinstance(value, dict):
        return {key: coerce(v, t.args[0]) for key, v in value.items()}
    if k == "record" and isinstance(value, dict):
        types = {f.name: f.type for f in t.fields}
        return {key: coerce(v, types[key]) if key in types else v for key, v in value.items()}
    return value


def follow_type(t: ir.TypeRef, path: tuple[str, ...]) -> ir.TypeRef:
    """The type reached by selecting ``path`` (record fields, dict keys) from a ``t`` value."""
    optional = False
    for key in path:
        if t.kind == "optional":
            optional, t = True, t.args[0]
        if t.kind == "record":
            found = next((f.type for f in t.fields if f.name == key), None)
            if found is None:
                raise VertexTypeError(f"{t} has no field {key!r}")
            t = found
        elif t.kind == "dict":
            t = t.args[0]
        else:
            raise VertexTypeError(f"cannot select {key!r} from {t}")
    if optional and t.kind != "optional":
        t = ir.TypeRef("optional", (t,))
    return t
