"""Each executor's image and command from the shipping plan (see :mod:`typedflow.shipping.plan`).

A task runs in its environment's built image (``python3 -m typedflow.runtime vertex``), or, without
one, in the stock ``python:X.Y-slim`` image behind the bootstrap, which installs the environment's
packages and typedflow's wheel from ``<pipeline root>/code/`` (Vertex's ``/gcs/`` mount) first. Task
executors get ``--code DIGEST``: the runtime imports the task from that bundle under the pipeline root.
An image given with ``--image`` or ``@task(image=...)`` is used as it is (it must have typedflow).
"""

from __future__ import annotations

from typing import Any

from typedflow import ir
from typedflow.shipping.bootstrap import command as bootstrap_command
from typedflow.shipping.plan import Image

from .components import COMMAND
from .spec import ExecutorSpec

RUNTIME = ["-m", "typedflow.runtime", "vertex"]
ROOT_PLACEHOLDER = "{{$.pipeline_root}}"


def ship_executors(
    executors: dict[str, ExecutorSpec],
    doc: ir.WorkflowIR,
    shipment: Any,
    explicit_image: str | None,
    templates: dict[str, ir.TaskTemplate],
) -> None:
    """Rewrite ``executors`` (the spec's ``deploymentSpec.executors``) in place for ``shipment``;
    ``templates``: the template each task's executor runs, by executor label (the others run steps of
    the pipeline itself: values, constants, failures, outputs)."""
    plan = shipment.plan
    wheel_key = wheel_sha = ""
    if any(not i.built for i in plan.images()):
        from typedflow.shipping.codestore import wheel_key as key_of
        from typedflow.shipping.selfwheel import wheel

        name, _, wheel_sha = wheel()
        wheel_key = key_of(wheel_sha, name)
    for label, spec in executors.items():
        container = spec["container"]
        template = templates.get(label)
        if template is not None and plan.code:
            container["args"] = [*container["args"], "--code", plan.code]
        if explicit_image or (template is not None and template.image):
            continue  # the user's image, as given: it has typedflow and the environment
        image: Image = plan.image_of(template.name) if template is not None else plan.default
        container["image"] = image.ref
        if image.built:
            container["command"] = list(COMMAND)
        else:
            packages = image.env.packages if template is not None else ()
            container["command"] = bootstrap_command(
                "python3", ROOT_PLACEHOLDER, wheel_key, wheel_sha, packages, RUNTIME
            )
        if image.env.env:
            container["env"] = [{"name": k, "value": v} for k, v in image.env.env]


__all__ = ["ship_executors"]
