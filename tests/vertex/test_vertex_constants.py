"""Files and folders written as constants in a workflow body, on Vertex: named by content under the
pipeline root in the spec, uploaded there by deploy (once), read there by the task after its digest matched."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import const_flows as flows
import pytest
from kfp_harness import run_spec
from typedflow.backends.vertex import BACKEND
from typedflow.backends.vertex.compiler import compile_spec
from typedflow.backends.vertex.constants import SCHEME, constant_key, publish_constant_files, resolve

from typedflow import ir
from typedflow.errors import InputError
from typedflow.lineage.cloud import iter_dir
from typedflow.runtime.running import RunOptions, run_workflow
from typedflow.runtime.store import dir_manifest, dir_sha256, file_sha256
from typedflow.shipping.codestore import LocalCode
from typedflow.util.boundary import BoundaryError

NOTES_SHA = file_sha256(flows.DATA / "notes.txt")
SHARDS_SHA = dir_sha256(dir_manifest(flows.DATA / "shards"))


def _compile(wf: Any, tmp: Path) -> Path:
    path = tmp / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    return path


def _constants(spec: Mapping[str, Any]) -> list[Any]:
    """Every file handle in the spec's constant parameters and raw loop items."""
    found: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if "uri" in v and "sha256" in v:
                found.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and v.startswith("["):
            walk(json.loads(v))  # a loop's raw items

    walk(spec["root"])
    for c in spec["components"].values():
        walk(c)
    return found


def test_the_spec_names_each_constant_by_content_under_the_pipeline_root() -> None:
    spec = compile_spec(flows.constants.ir)
    uris = {v["uri"] for v in _constants(spec)}
    assert uris == {
        f"{SCHEME}typedflow/store/objects/{NOTES_SHA[:2]}/{NOTES_SHA}",
        f"{SCHEME}typedflow/store/trees/{SHARDS_SHA}",
    }
    text = json.dumps(spec, sort_keys=True)
    assert str(flows.DATA) not in text and "notes.txt" not in text  # no checkout path: the same spec anywhere
    assert json.dumps(compile_spec(flows.constants.ir), sort_keys=True) == text


def test_constant_files_and_folders_run_under_kfp_local(tmp_path: Path) -> None:
    local = run_workflow(flows.constants, {}, RunOptions(store=tmp_path / "local"))
    assert local.ok, local.failures
    root = tmp_path / "root"
    uploaded = publish_constant_files(flows.constants.ir, LocalCode(root))
    tree = constant_key(SHARDS_SHA, True)
    assert uploaded == [constant_key(NOTES_SHA, False), f"{tree}/a.txt", f"{tree}/sub/b.txt"]
    assert publish_constant_files(flows.constants.ir, LocalCode(root)) == []  # by content: uploaded once
    outs, _ = run_spec(_compile(flows.constants, tmp_path), {}, root)
    assert outs == local.outputs
    assert outs["shards"] == ["a.txt=alpha", "sub/b.txt=beta"] and outs["lines"] == [2, 2]


def test_a_changed_upload_is_refused_by_the_task(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (key,) = publish_constant_files(flows.notes_only.ir, LocalCode(root))
    stored = root / key
    os.chmod(stored, 0o644)
    stored.write_text("not what the workflow was defined with")
    with pytest.raises(RuntimeError):  # raise_on_error: the task fails
        run_spec(_compile(flows.notes_only, tmp_path), {}, root)
    (record,) = [json.loads(o.body) for o in iter_dir(root / "typedflow")]
    assert record["status"] == "failed" and "changed" in record["error"], record["error"]


def test_a_constant_not_uploaded_fails_the_task(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(RuntimeError):
        run_spec(_compile(flows.notes_only, tmp_path), {}, root)
    assert not (root / constant_key(NOTES_SHA, False)).exists()


FILE = ir.TypeRef("file")


def test_the_container_finds_a_constant_only_by_its_own_digest(tmp_path: Path) -> None:
    key = constant_key(NOTES_SHA, False)
    handle = {"uri": SCHEME + key, "sha256": NOTES_SHA, "format": None}
    there = resolve([handle], ir.TypeRef("list", (FILE,)), "gs://b/root", lambda uri: True)
    assert there == [{**handle, "uri": f"gs://b/root/{key}"}]
    with pytest.raises(BoundaryError, match=r"not under the pipeline root.*deploy --target vertex"):
        resolve(handle, FILE, str(tmp_path), lambda uri: Path(uri).exists())
    with pytest.raises(BoundaryError, match="pipeline root, which was not given"):
        resolve(handle, FILE, None)
    forged = [
        {**handle, "sha256": "0" * 64},  # another digest than its key's
        {**handle, "uri": SCHEME + "typedflow/store/objects/../../etc/passwd"},
        {**handle, "uri": SCHEME + constant_key(NOTES_SHA, True)},  # a folder's key for a file
    ]
    for bad in forged:
        with pytest.raises(BoundaryError, match="does not name the content"):
            resolve(bad, FILE, "gs://b/root", lambda uri: True)
    other = {"uri": "gs://b/elsewhere/x.txt", "sha256": NOTES_SHA, "format": None}
    assert resolve(other, FILE, "gs://b/root") == other  # not a constant: read where it is


FLOW = """
from pathlib import Path

from typedflow import TypedFile, task, workflow

NOTES = TypedFile.from_path(Path(__file__).parent / "notes.txt")


@task
def read(f: TypedFile) -> str:
    return f.read_text()


@workflow
def reads() -> str:
    return read(NOTES)
"""


@pytest.fixture
def changing(tmp_path: Path) -> Iterator[Path]:
    pkg = tmp_path / "src" / "vxconstpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "flow.py").write_text(FLOW)
    (pkg / "notes.txt").write_text("first")
    sys.path.insert(0, str(pkg.parent))
    try:
        yield pkg
    finally:
        sys.path.remove(str(pkg.parent))
        for name in [m for m in sys.modules if m.startswith("vxconstpkg")]:
            del sys.modules[name]


def test_deploy_refuses_a_constant_changed_or_missing_since_definition(changing: Path, tmp_path: Path) -> None:
    from typedflow.backends.vertex.deploy import deploy_command

    flow = importlib.import_module("vxconstpkg.flow")
    (changing / "notes.txt").write_text("second")
    args = argparse.Namespace(project="p", region="r", pipeline_root="gs://b/root", input=None, inputs_file=None)
    store = LocalCode(tmp_path / "root")
    with pytest.raises(InputError, match=r"flow\.py:\d+.*notes\.txt changed since the workflow was defined"):
        deploy_command(flow.reads.ir, args, code_store=store)
    (changing / "notes.txt").unlink()
    with pytest.raises(InputError, match="did not exist"):
        publish_constant_files(flow.reads.ir, store)
    assert not (tmp_path / "root").exists()  # nothing was uploaded
    local_root = argparse.Namespace(**{**vars(args), "pipeline_root": str(tmp_path / "root")})
    with pytest.raises(InputError, match="expected gs://bucket/folder"):
        deploy_command(flow.reads.ir, local_root, code_store=store)
