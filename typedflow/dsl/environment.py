"""``Environment``: what a task needs installed where it runs (Python, packages, base image, variables).

An environment is declared on ``@workflow`` (the default of its tasks) or ``@task`` (its own), and
recorded in the IR. ``typedflow build`` turns each distinct environment into an image; without a
built image, container targets install its packages when the container starts. Requirement strings
are parsed (PEP 508) and kept in their canonical form; URLs, markers and pip options are refused: every
string here reaches a Dockerfile and a container's command line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.errors import TypedflowError
from typedflow.ir.canonical import canonical_json, sha256_hex

PYTHON = re.compile(r"3\.[0-9]{1,2}")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~*+]{0,255}")
MAX_PACKAGES = 500
MAX_ENV_VALUE = 4096
_REQUIREMENTS_DEPTH = 5


class BadEnvironment(TypedflowError, ValueError):
    """An environment that cannot be used (a bad requirement, image or variable)."""


def requirement(text: str, where: str = "package") -> str:
    """The canonical form of one requirement specifier (``scikit-learn >= 1.4`` → ``scikit-learn>=1.4``)."""
    from packaging.requirements import InvalidRequirement, Requirement

    if not isinstance(text, str):
        raise BadEnvironment(f"{where}: expected a requirement string, got {type(text).__name__}")
    try:
        req = Requirement(text.strip())
    except InvalidRequirement as exc:
        raise BadEnvironment(
            f"{where} {text.strip()[:120]!r} is not a requirement specifier: {str(exc).splitlines()[0]}"
        ) from None
    if req.url or req.marker:
        raise BadEnvironment(
            f"{where} {text.strip()[:120]!r}: URLs and environment markers are not supported; name a "
            "package and a version range (e.g. scikit-learn>=1.4)"
        )
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    out = f"{req.name}{extras}{req.specifier}"
    if REQUIREMENT.fullmatch(out) is None:
        raise BadEnvironment(f"{where} {text.strip()[:120]!r} has characters a requirement cannot have")
    return out


def read_requirements(path: Path, depth: int = 0) -> list[str]:
    """Requirement lines of a requirements file: comments and blank lines skipped, ``-r FILE`` followed;
    any other pip option is refused (it would change where packages come from)."""
    if depth > _REQUIREMENTS_DEPTH:
        raise BadEnvironment(f"{path}: -r includes nest more than {_REQUIREMENTS_DEPTH} deep")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadEnvironment(f"cannot read the requirements file {path}: {exc}") from None
    out: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ", "--requirement=")):
            name = re.split(r"[ =]", line, maxsplit=1)[1].strip()
            out += read_requirements(path.parent / name, depth + 1)
        elif line.startswith("-"):
            raise BadEnvironment(
                f"{path}:{n}: pip option {line.split()[0]!r} is not supported in an environment's requirements"
            )
        else:
            out.append(requirement(line, f"{path}:{n}"))
    return out


def _caller_dir() -> Path:
    """The folder of the file that declared the environment (the first frame outside this module)."""
    frame: Any = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename == __file__ or frame.f_code.co_filename.startswith("<attrs")):
        frame = frame.f_back
    name = frame.f_code.co_filename if frame is not None else ""
    return Path(os.path.dirname(os.path.abspath(name))) if name and not name.startswith("<") else Path.cwd()


def _packages(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise BadEnvironment("packages: expected a list of requirement strings, got one string")
    return tuple(requirement(p) for p in value)


def _env(value: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in dict(value).items()))


@attrs.frozen
class Environment:
    """Where a task runs: ``Environment(python="3.11", packages=["scikit-learn>=1.4"],
    requirements="requirements.txt", base_image=None, env={"OMP_NUM_THREADS": "1"})``.

    ``requirements`` is read when the environment is declared, relative to the file that declares
    it; its requirements join ``packages``. ``base_image`` replaces the ``python:X.Y-slim`` base of a
    built image (it must have that Python); ``env`` sets variables where the task runs."""

    python: str | None = None
    packages: tuple[str, ...] = attrs.field(default=(), converter=_packages)
    requirements: str | None = None
    base_image: str | None = None
    env: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_env)
    resolved: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        found = list(self.packages)
        if self.requirements is not None:
            path = Path(self.requirements)
            if not path.is_absolute():
                path = _caller_dir() / path
            found += read_requirements(path)
        object.__setattr__(self, "resolved", tuple(found))
        check(self.to_ir())

    def to_ir(self) -> ir.EnvironmentSpec:
        return ir.EnvironmentSpec(
            python=self.python,
            packages=tuple(sorted(set(self.resolved))),
            base_image=self.base_image,
            env=self.env,
        )


def check(spec: ir.EnvironmentSpec, where: str = "environment") -> ir.EnvironmentSpec:
    """``spec`` if every part of it is safe to put in a Dockerfile and a command line; else raise."""
    if spec.python is not None and PYTHON.fullmatch(spec.python) is None:
        raise BadEnvironment(f"{where}: python {spec.python!r}: expected a version such as '3.11'")
    if spec.base_image is not None and IMAGE.fullmatch(spec.base_image) is None:
        raise BadEnvironment(f"{where}: base_image {spec.base_image!r} is not an image reference")
    if len(spec.packages) > MAX_PACKAGES:
        raise BadEnvironment(f"{where}: {len(spec.packages)} packages; at most {MAX_PACKAGES}")
    for p in spec.packages:
        if requirement(p, f"{where}: package") != p:
            raise BadEnvironment(f"{where}: package {p!r} is not in canonical form")
    for name, value in spec.env:
        if ENV_NAME.fullmatch(name) is None:
            raise BadEnvironment(f"{where}: env {name!r} is not a variable name")
        if len(value) > MAX_ENV_VALUE or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise BadEnvironment(f"{where}: env {name}: a value of at most {MAX_ENV_VALUE} printable characters")
    if len({n for n, _ in spec.env}) != len(spec.env):
        raise BadEnvironment(f"{where}: env names a variable twice")
    return spec


def digest(spec: ir.EnvironmentSpec) -> str:
    """sha256 of the environment's canonical JSON: identical environments, identical digests."""
    data: dict[str, Any] = {
        "python": spec.python,
        "packages": sorted(spec.packages),
        "base_image": spec.base_image,
        "env": [list(p) for p in sorted(spec.env)],
    }
    return sha256_hex(canonical_json(data).encode("utf-8"))


def python_of(spec: ir.EnvironmentSpec, doc: ir.WorkflowIR) -> str:
    """``X.Y``: the environment's Python, else the one that traced the workflow."""
    if spec.python:
        return spec.python
    parts = (doc.python_version or f"{sys.version_info[0]}.{sys.version_info[1]}").split(".")
    return ".".join(parts[:2])


def effective(doc: ir.WorkflowIR, template: ir.TaskTemplate, default: ir.EnvironmentSpec) -> ir.EnvironmentSpec:
    """The environment a task runs in: its own, else the deployed workflow's, else ``default``; its
    Python filled in."""
    spec = template.environment or doc.workflow.environment or default
    return attrs.evolve(spec, python=python_of(spec, doc))


__all__ = ["BadEnvironment", "Environment", "check", "digest", "effective", "read_requirements", "requirement"]
