"""The KFP executor input a task container is handed, checked before anything reads it.

Its shape is checked against a JSON schema of the fields the container reads (an error names the field's
path, e.g. ``outputs.artifacts.out.artifacts[0].uri``). The places it names to write to, the executor output
file and each output artifact, must be absolute paths (``gs://`` through the ``/gcs/`` mount) without ``..``,
under the pipeline root the container was given (without one: under the executor output file's folder), with
no symbolic link on the way there, and not something that is not a file or a folder already. Vertex and
kfp.local both put them in the task's own folder under the pipeline root.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from typedflow.util.boundary import MAX_URI, BoundaryError

if TYPE_CHECKING:
    import jsonschema

GCS_MOUNT: Final = "/gcs/"
FLAG: Final = "--executor-input"

_STRING: Final = {"type": "string"}
_OBJECT: Final = {"type": "object"}
_URI: Final = {"type": "string", "maxLength": MAX_URI}
_INPUT_ARTIFACT: Final = {
    "type": "object",
    "properties": {
        "name": _STRING,
        "type": _OBJECT,
        "uri": _URI,
        "metadata": {
            "type": ["object", "null"],
            "properties": {"sha256": _STRING, "format": {"type": ["string", "null"]}},
        },
    },
}
_OUTPUT_ARTIFACT: Final = {**_INPUT_ARTIFACT, "required": ["uri"]}

SCHEMA: Final = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "KFP executor input (the fields a typedflow task container reads)",
    "type": "object",
    "required": ["outputs"],
    "properties": {
        "inputs": {
            "type": "object",
            "properties": {
                "parameterValues": _OBJECT,  # each value is checked against its declared type later
                "parameters": {"type": "object", "additionalProperties": _OBJECT},
                "artifacts": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"artifacts": {"type": "array", "items": _INPUT_ARTIFACT}},
                    },
                },
            },
        },
        "outputs": {
            "type": "object",
            "required": ["outputFile"],
            "properties": {
                "outputFile": {**_URI, "minLength": 1},
                "parameters": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"outputFile": _URI}},
                },
                "artifacts": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["artifacts"],
                        "properties": {"artifacts": {"type": "array", "minItems": 1, "items": _OUTPUT_ARTIFACT}},
                    },
                },
            },
        },
    },
}

_NAMES: Final[dict[str, str]] = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "null": "null",
    "boolean": "a boolean",
    "number": "a number",
    "integer": "an integer",
}
_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")


def local_path(uri: str) -> Path:
    """Where a ``gs://`` URI is readable inside a Vertex container (Cloud Storage FUSE)."""
    if uri.startswith("gs://"):
        return Path(GCS_MOUNT + uri[len("gs://") :])
    return Path(uri.removeprefix("file://"))


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema

    cls = jsonschema.validators.validator_for(SCHEMA)
    validator: jsonschema.protocols.Validator = cls(SCHEMA)
    return validator


def field_path(parts: Any) -> str:
    """``outputs.artifacts.out.artifacts[0].uri``: a JSON path as the error names it."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            shown = part if len(part) <= 60 else part[:57] + "..."
            text += f"[{shown!r}]"
    return text or "(the whole input)"


def json_kind(value: Any) -> str:
    """What a JSON value is, as an error says it: "a list", "an object", "null"..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "null"


def _why(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(the field's path, what is wrong with it) for one schema error."""
    where = field_path(error.absolute_path)
    rule: Any = error.validator_value
    instance: Any = error.instance
    if error.validator == "type":
        types = rule if isinstance(rule, list) else [rule]
        expected = " or ".join(_NAMES.get(str(t), str(t)) for t in types)
        return where, f"must be {expected}, not {json_kind(instance)}"
    if error.validator == "required":
        missing = next((k for k in rule if k not in instance), "?")
        return field_path([*error.absolute_path, missing]), "is missing"
    if error.validator == "minItems":
        return where, "must not be empty"
    if error.validator == "minLength":
        return where, "must not be empty"
    if error.validator == "maxLength":
        return where, f"is longer than {rule:,} characters"
    text = error.message
    return where, text if len(text) <= 200 else text[:197] + "..."


def describe_error(errors: list[jsonschema.ValidationError], plan_kinds: tuple[str, ...] = ()) -> tuple[str, str]:
    """(the field's path, what is wrong with it) for the first field (the shallowest, in document order) that a
    list of schema errors is about."""
    import jsonschema

    first = min(errors, key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    alternatives: Any = first.validator_value
    if first.validator == "anyOf" and all(list(a) == ["required"] for a in alternatives):
        names = ", ".join(repr(k) for k in plan_kinds) or "the fields it needs"
        return field_path(first.absolute_path), f"must hold one of {names}"
    error = jsonschema.exceptions.best_match([e for e in errors if e.absolute_path == first.absolute_path])
    assert error is not None
    return _why(error)


def check_shape(ei: Any) -> dict[str, Any]:
    """``ei`` if it has the shape of a KFP executor input; else a :class:`BoundaryError` naming the first field
    (in document order) that is wrong."""
    errors = list(_validator().iter_errors(ei))
    if errors:
        where, why = describe_error(errors)
        raise BoundaryError(f"{FLAG}: {where} {why}")
    assert isinstance(ei, dict)
    return ei


def _place(text: str, where: str) -> Path:
    """The local path a URI or path of the executor input names, if it is absolute and has no ``..``."""
    if "\0" in text:
        raise BoundaryError(f"{FLAG}: {where} holds a NUL character")
    path = local_path(text)
    if not path.is_absolute():
        raise BoundaryError(f"{FLAG}: {where} {text[:200]!r} is not an absolute path or a gs:// URI")
    if ".." in path.parts:
        raise BoundaryError(f"{FLAG}: {where} {text[:200]!r} has a '..' component")
    return path


def _confined(path: Path, root: Path, real_root: Path, where: str, *, folder_ok: bool) -> None:
    shown = str(path)[:200]
    if not path.is_relative_to(root) or path == root:
        raise BoundaryError(f"{FLAG}: {where} {shown} is not under the pipeline root {str(root)[:200]}")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise BoundaryError(f"{FLAG}: {where} {shown} cannot be examined: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISLNK(mode):
        raise BoundaryError(f"{FLAG}: {where} {shown} is a symbolic link")
    if mode is not None and not (stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode))):
        raise BoundaryError(f"{FLAG}: {where} {shown} is not a {'file or folder' if folder_ok else 'regular file'}")
    # a link between the root and the file (a folder of the task's that was swapped for one) must not lead out
    if not path.parent.resolve().is_relative_to(real_root):
        raise BoundaryError(f"{FLAG}: {where} {shown} leads outside the pipeline root through a symbolic link")


def pipeline_root(given: str) -> Path:
    """The pipeline root the container was given, as a local folder (``gs://`` through the ``/gcs/`` mount)."""
    return _place(given, "--pipeline-root")


def check_places(ei: dict[str, Any], root: Path | None) -> Path:
    """Check where ``ei`` (of :func:`check_shape`'s shape) says to write; returns the folder it must stay in
    (``root``, or the executor output file's folder without one)."""
    out = _place(ei["outputs"]["outputFile"], "outputs.outputFile")
    base = Path(os.path.abspath(root if root is not None else out.parent))
    real = base.resolve()
    _confined(out, base, real, "outputs.outputFile", folder_ok=False)
    for name, listed in (ei["outputs"].get("artifacts") or {}).items():
        for i, art in enumerate(listed["artifacts"]):
            where = f"{field_path(['outputs', 'artifacts', name, 'artifacts', i, 'uri'])}"
            _confined(_place(art["uri"], where), base, real, where, folder_ok=True)
    return base


__all__ = [
    "GCS_MOUNT",
    "SCHEMA",
    "check_places",
    "check_shape",
    "describe_error",
    "field_path",
    "json_kind",
    "local_path",
    "pipeline_root",
]
