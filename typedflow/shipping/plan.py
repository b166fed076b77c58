"""What each task of a deployment runs in, and which code: the shipping plan of a workflow.

Each task's environment is its own, else the workflow's, else the project's declared dependencies
(``pyproject.toml``'s ``[project] dependencies``, or ``requirements.txt``, found from the code root up
to the repository's top). With a registry, a task runs in the image ``typedflow build`` makes for its
environment; without one, in the stock ``python:X.Y-slim`` image behind the bootstrap command.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs

from typedflow import ir
from typedflow._version import __version__
from typedflow.dsl.environment import BadEnvironment, digest, effective, python_of, read_requirements, requirement

REPOSITORY = "typedflow-env"


@attrs.frozen
class Image:
    """The image of one environment: built (``<registry>/typedflow-env:<tag>``) or the stock base."""

    env: ir.EnvironmentSpec  # effective: its Python filled in
    tag: str
    ref: str
    built: bool


@attrs.frozen
class Plan:
    code: str | None  # the bundle digest, or None when tasks import their code from the environment
    tasks: tuple[tuple[str, Image], ...]  # task name -> its image, by name
    default: Image  # the workflow's (what typedflow's own steps run in)
    notes: tuple[str, ...] = ()

    def image_of(self, task: str) -> Image:
        return dict(self.tasks).get(task, self.default)

    def images(self) -> list[Image]:
        """The distinct images, by tag."""
        found = {i.tag: i for _, i in self.tasks}
        found.setdefault(self.default.tag, self.default)
        return [found[t] for t in sorted(found)]


def tag(env: ir.EnvironmentSpec) -> str:
    """The image tag of an environment: its digest and typedflow's version (identical environments,
    identical tags)."""
    version = re.sub(r"[^A-Za-z0-9_.-]", "_", __version__)
    return f"{digest(env)[:24]}-tf{version}"


def stock_image(env: ir.EnvironmentSpec) -> str:
    return env.base_image or f"python:{env.python}-slim"


def image_for(env: ir.EnvironmentSpec, registry: str | None) -> Image:
    t = tag(env)
    if registry:
        return Image(env, t, f"{registry.rstrip('/')}/{REPOSITORY}:{t}", True)
    return Image(env, t, stock_image(env), False)


def _project_files(root: Path) -> list[Path]:
    """The code root and its parents up to the repository's top (or the file system's)."""
    out: list[Path] = []
    for d in (root, *root.parents):
        out.append(d)
        if (d / ".git").exists():
            break
    return out


def project_environment(root: Path | None, python: str) -> tuple[ir.EnvironmentSpec, str]:
    """The project's declared dependencies as an environment, and where they came from."""
    from packaging.requirements import InvalidRequirement, Requirement

    if root is None:
        return ir.EnvironmentSpec(), "no project"
    marker_env = {"python_version": python, "python_full_version": python + ".0", "sys_platform": "linux"}
    marker_env |= {"platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython"}
    for d in _project_files(root.resolve()):
        py = d / "pyproject.toml"
        if py.is_file():
            try:
                deps = tomllib.loads(py.read_text("utf-8")).get("project", {}).get("dependencies")
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise BadEnvironment(f"cannot read {py}: {exc}") from None
            if isinstance(deps, list):
                packages = []
                for dep in deps:
                    try:
                        req = Requirement(str(dep))
                    except InvalidRequirement as exc:
                        raise BadEnvironment(f"{py}: dependency {dep!r}: {exc}") from None
                    if req.url or (req.marker is not None and not req.marker.evaluate(marker_env)):
                        continue
                    req.marker = None
                    packages.append(requirement(str(req), f"{py}: dependency"))
                return ir.EnvironmentSpec(packages=tuple(sorted(set(packages)))), str(py)
        reqs = d / "requirements.txt"
        if reqs.is_file():
            return ir.EnvironmentSpec(packages=tuple(sorted(set(read_requirements(reqs))))), str(reqs)
    return ir.EnvironmentSpec(), "no declared dependencies"


def make(doc: ir.WorkflowIR, *, code: str | None, code_root: Path | None, registry: str | None) -> Plan:
    """The plan of ``doc``: every task's image (built with ``registry``, else stock), and notes that say
    where containers fall back to the bootstrap."""
    workflow_env = doc.workflow.environment
    project, _ = project_environment(code_root, python_of(workflow_env or ir.EnvironmentSpec(), doc))
    wf = workflow_env or project
    default = image_for(attrs.evolve(wf, python=python_of(wf, doc)), registry)
    tasks = tuple(
        (t.name, image_for(effective(doc, t, project), registry)) for t in sorted(doc.tasks, key=lambda t: t.name)
    )
    notes = []
    if not registry:
        by_tag: dict[str, list[str]] = {}
        for name, img in tasks:
            by_tag.setdefault(img.tag, []).append(name)
        for t, names in sorted(by_tag.items()):
            img = dict(tasks)[names[0]]
            pk = ", ".join(img.env.packages) or "no packages"
            notes.append(
                f"no built image for tasks {', '.join(names)} (environment {t}: Python {img.env.python}, {pk}): "
                f"containers start from {img.ref} and install it when they start; `typedflow build --registry "
                "URI` makes the image, and --registry URI uses it"
            )
    return Plan(code, tasks, default, tuple(notes))


__all__ = ["REPOSITORY", "Image", "Plan", "image_for", "make", "project_environment", "stock_image", "tag"]
