"""The value codec: Python values ⇄ typed JSON, by their declared annotation. Never pickle.

Every target uses this one converter, so a value means the same thing wherever a task runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import typing
from collections.abc import Callable
from typing import Any

import cattrs
from cattrs.cols import namedtuple_dict_structure_factory, namedtuple_dict_unstructure_factory

from typedflow.dsl.secret import Secret
from typedflow.files import TypedDirectory, TypedFile
from typedflow.formats import Format, format_key
from typedflow.ir.canonical import digest


def is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


converter = cattrs.Converter(detailed_validation=False)

converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
converter.register_structure_hook(dt.datetime, lambda v, _: dt.datetime.fromisoformat(v))
converter.register_unstructure_hook(dt.date, lambda d: d.isoformat())
converter.register_structure_hook(dt.date, lambda v, _: dt.date.fromisoformat(v))
converter.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
converter.register_structure_hook(bytes, lambda v, _: base64.b64decode(v))
converter.register_structure_hook(float, lambda v, _: float(v))
converter.register_unstructure_hook_factory(is_namedtuple, lambda cl, c: namedtuple_dict_unstructure_factory(cl, c))
converter.register_structure_hook_factory(is_namedtuple, lambda cl, c: namedtuple_dict_structure_factory(cl, c))


def _is_handle(tp: Any) -> bool:
    return tp in (TypedFile, TypedDirectory) or typing.get_origin(tp) in (TypedFile, TypedDirectory)


def _unstructure_handle(h: TypedFile[Any] | TypedDirectory[Any]) -> dict[str, Any]:
    return {"uri": h.uri, "sha256": h.sha256, "format": format_key(h.format)}


def _handle_structure_factory(tp: Any) -> Callable[[Any, Any], Any]:
    cls = typing.get_origin(tp) or tp
    args = typing.get_args(tp)
    fmt: type[Format] = args[0] if args else Format

    def structure(v: Any, _: Any) -> Any:
        return cls(uri=v["uri"], sha256=v.get("sha256"), format=fmt)

    return structure


def _is_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple


def _tuple_unstructure_factory(tp: Any) -> Callable[[Any], list[Any]]:
    """Tuples are JSON lists, element by element (cattrs would keep a tuple, which typed JSON is not)."""
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        each = converter.get_unstructure_hook(args[0])
        return lambda v: [each(x) for x in v]
    hooks = [converter.get_unstructure_hook(a) for a in args]
    return lambda v: [h(x) for h, x in zip(hooks, v, strict=True)]


converter.register_unstructure_hook_factory(_is_tuple, _tuple_unstructure_factory)
converter.register_unstructure_hook(Secret, lambda s: {"secret": s.ref})
converter.register_structure_hook(Secret, lambda v, _: Secret.from_ref(v["secret"]))
converter.register_unstructure_hook_func(_is_handle, _unstructure_handle)
converter.register_structure_hook_factory(_is_handle, _handle_structure_factory)


def _member_value(member: enum.Enum) -> Any:
    return member.value


def unstructure_members(cls: type[enum.Enum]) -> None:
    """Let a str-mixin enum (a ``StrEnum``) unstructure to its members' values, as every other enum does: cattrs
    dispatches it as the str it also is, by identity, which left the member itself in typed JSON (and a task
    returning one failed its output check). The type's own hook is more specific than str's."""
    converter.register_unstructure_hook(cls, _member_value)


def encode(value: Any, annotation: Any) -> Any:
    """The typed JSON of ``value`` as ``annotation``."""
    return converter.unstructure(value, unstructure_as=annotation)


def decode(data: Any, annotation: Any) -> Any:
    """The Python value of typed JSON ``data`` declared as ``annotation``."""
    return converter.structure(data, annotation)


def value_digest(data: Any) -> str:
    """``sha256:<hex>`` of a typed-JSON value's canonical form."""
    return digest(data)
