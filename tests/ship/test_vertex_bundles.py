"""Vertex under kfp.local with code from bundles: the compiled spec's bootstrap command (stock image)
and a built image's command both run the tasks from the bundle under the pipeline root, in a folder
without the user's code (the project is deleted before the pipeline runs, and no PYTHONPATH is set)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.vertex import BACKEND

from tests.ship.projects import forget, load, unique, write_project
from tests.vertex.kfp_harness import run_spec
from typedflow.runtime.running import RunOptions, run_workflow
from typedflow.shipping.codestore import LocalCode, publish, publish_wheel

FLOWS = """
from typedflow import Environment, TypedFile, map_over, task, workflow

from {helpers} import weight


@task
def lines(n: int) -> TypedFile:
    out = TypedFile.new(suffix=".txt")
    out.local_path().write_text("".join(f"{{i}}\\n" for i in range(n)))
    return out


@task
def count(f: TypedFile) -> int:
    return len(f.read_text().splitlines())


@task
def scaled(x: int) -> int:
    return weight(x)


@task
def pair(k: int) -> list[int]:
    return [k, 2]


@workflow(environment=Environment(packages=["attrs>=21"], env={{"TF_SHIP_VERTEX": "1"}}))
def shipped(n: int) -> list[int]:
    k = count(f=lines(n=n))
    return map_over(lambda x: scaled(x=x), pair(k=k))
"""
HELPERS = """
def weight(x: int) -> int:
    return x * 7
"""


@pytest.mark.parametrize("registry", [None, "registry.example/ml"], ids=["bootstrap", "built-image"])
def test_tasks_run_from_the_bundle(registry: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module, helpers = unique("shipvx"), unique("shipvxh")
    project = write_project(
        tmp_path / "project", {f"{module}.py": FLOWS.format(helpers=helpers), f"{helpers}.py": HELPERS}
    )
    try:
        wf, shipped = load(project, module, "shipped", registry=registry)
        local = run_workflow(wf, {"n": 5}, RunOptions(store=tmp_path / "local"))
        assert local.ok, local.failures
        assert local.outputs == {"out": [35, 14]}
        spec_path = tmp_path / "spec.yaml"
        spec_path.write_text(BACKEND.compile(wf.ir, {"output": str(spec_path), "shipment": shipped}))
        root = tmp_path / "root"
        store = LocalCode(root)
        assert shipped.bundle is not None
        publish(shipped.bundle, store)
        if registry is None:
            publish_wheel(store)
    finally:
        forget(module, helpers)
    spec = _spec(spec_path)
    containers = [e["container"] for e in spec["deploymentSpec"]["executors"].values()]
    task_containers = [c for c in containers if "--task" in c["args"]]
    assert len(task_containers) == 4
    for c in task_containers:
        assert c["args"][-2:] == ["--code", shipped.bundle.digest]
        assert c["env"] == [{"name": "TF_SHIP_VERTEX", "value": "1"}]
        if registry is None:
            assert c["image"] == "python:3.11-slim"
            assert c["command"][:2] == ["python3", "-c"] and "attrs>=21" in c["command"]
        else:
            assert c["image"].startswith("registry.example/ml/typedflow-env:")
            assert c["command"] == ["python3", "-m", "typedflow.runtime", "vertex"]
    shutil.rmtree(project)  # the code now exists only in the bundle
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("TYPEDFLOW_CODE_CACHE", str(tmp_path / "code-cache"))
    outs, _ = run_spec(spec_path, {"n": 5}, root)
    assert outs == {"out": [35, 14]}
    assert (tmp_path / "code-cache" / shipped.bundle.hex / f"{module}.py").is_file()
    assert list(empty.iterdir()) == []


def test_a_missing_bundle_fails_the_task_with_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module, helpers = unique("shipvx"), unique("shipvxh")
    project = write_project(
        tmp_path / "project", {f"{module}.py": FLOWS.format(helpers=helpers), f"{helpers}.py": HELPERS}
    )
    try:
        wf, shipped = load(project, module, "shipped", registry="registry.example/ml")
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(BACKEND.compile(wf.ir, {"output": str(spec_path), "shipment": shipped}))
    finally:
        forget(module, helpers)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("TYPEDFLOW_CODE_CACHE", str(tmp_path / "code-cache"))
    with pytest.raises(RuntimeError):  # raise_on_error: the first task fails
        run_spec(spec_path, {"n": 2}, tmp_path / "root")


def _spec(path: Path) -> dict[str, Any]:
    import yaml

    text = path.read_text()
    spec: dict[str, Any] = yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)
    return spec


def test_deploy_puts_the_bundle_and_wheel_under_the_pipeline_root_once(tmp_path: Path) -> None:
    from typedflow.backends.vertex.deploy import publish_code

    module, helpers = unique("shipvx"), unique("shipvxh")
    project = write_project(
        tmp_path / "project", {f"{module}.py": FLOWS.format(helpers=helpers), f"{helpers}.py": HELPERS}
    )
    try:
        _, shipped = load(project, module, "shipped")
    finally:
        forget(module, helpers)
    store = LocalCode(tmp_path / "root")  # the pipeline root as a container reads it (its /gcs/ mount)
    first = publish_code(shipped, store, image=None)
    assert first[0] == f"code/{shipped.bundle.hex}.zip"  # type: ignore[union-attr]
    assert first[1].startswith("code/wheels/") and first[1].endswith("/typedflow-0.1.0-py3-none-any.whl")
    assert publish_code(shipped, store, image=None) == []  # content-addressed: uploaded once
    assert publish_code(shipped, store, image="my/image:1") == []
