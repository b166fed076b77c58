"""Each executor's image and command from the shipping plan (see :mod:`typedflow.shipping.plan`).

A task runs in its environment's built image (``python3 -m typedflow.runtime vertex``), or, without
one, in the stock ``python:X.Y-slim`` image behind the bootstrap, which installs the environment's
packages and typedflow's wheel from ``<pipeline root>/code/`` (Vertex's ``/gcs/`` mount) first. Task
executors get ``--code DIGEST``: the runtime imports the task from that bundle under the pipeline root.
An image given with ``--image`` or ``@task(image=...)`` is used as it is (it must have typedflow).
"""

from __future__ import annotations

import json
from typing import Any

from typedflow import ir
from typedflow.shipping.bootstrap import command as bootstrap_command
from typedflow.shipping.plan import Image

from .components import COMMAND

RUNTIME = ["-m", "typedflow.runtime", "vertex"]
ROOT_PLACEHOLDER = "{{$.pipeline_root}}"


def _mode(args: list[str]) -> tuple[str, Any]:
    for i, a in enumerate(args[:-1]):
        if a in ("--task", "--value", "--const", "--outputs"):
            return a[2:], json.loads(args[i + 1])
    return "", None


def ship_executors(executors: dict[str, Any], doc: ir.WorkflowIR, shipment: Any, explicit_image: str | None) -> None:
    """Rewrite ``executors`` (the spec's ``deploymentSpec.executors``) in place for ``shipment``."""
    plan = shipment.plan
    wheel_key = wheel_sha = ""
    if any(not i.built for i in plan.images()):
        from typedflow.shipping.codestore import wheel_key as key_of
        from typedflow.shipping.selfwheel import wheel

        name, _, wheel_sha = wheel()
        wheel_key = key_of(wheel_sha, name)
    for spec in executors.values():
        container = spec["container"]
        mode, payload = _mode(container["args"])
        template_name = payload["template"]["name"] if mode == "task" else None
        if mode == "task" and plan.code:
            container["args"] = [*container["args"], "--code", plan.code]
        own_image = payload["template"].get("image") if mode == "task" else None
        if explicit_image or own_image:
            continue  # the user's image, as given: it has typedflow and the environment
        image: Image = plan.image_of(template_name) if template_name else plan.default
        container["image"] = image.ref
        if image.built:
            container["command"] = list(COMMAND)
        else:
            packages = image.env.packages if mode == "task" else ()
            container["command"] = bootstrap_command(
                "python3", ROOT_PLACEHOLDER, wheel_key, wheel_sha, packages, RUNTIME
            )
        if image.env.env:
            container["env"] = [{"name": k, "value": v} for k, v in image.env.env]


__all__ = ["ship_executors"]
