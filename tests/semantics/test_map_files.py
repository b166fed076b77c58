"""``map_over`` bodies that return files, folders and lists of them give the local interpreter's results on
every target: moto's Step Functions engine and kfp.local (where the files a map collects are an artifact
list, as kfp compiles ``dsl.Collected`` of artifacts)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.vertex.compiler import compile_spec

from tests.support import map_file_flows as flows
from tests.support.aws import Aws
from tests.support.kfp import run_on_kfp_local
from tests.support.values import without_uris
from tests.support.vertex_spec import check, check_strict
from typedflow.runtime.running import RunOptions, run_workflow


def vertex(wf: Any, inputs: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The workflow's outputs under kfp.local, as the spec's last step writes them (typed JSON)."""
    run_on_kfp_local(wf, inputs, tmp_path, pipeline_root="kfp")
    (written,) = (tmp_path / "kfp" / "typedflow" / "runs").glob("*/outputs.json")
    outputs: dict[str, Any] = json.loads(written.read_text())["outputs"]
    return outputs


# (kfp.local runs a task in a second or two: the lists are short)
TEXTS = {"texts": ["bc", "a"]}
CASES = [
    (flows.made, TEXTS),
    (flows.tables, {"texts": ["a"]}),
    (flows.collected, TEXTS),
    (flows.remapped, TEXTS),
    (flows.folders, TEXTS),
    (flows.lists_of_files, TEXTS),
    (flows.nested, {"texts": ["b", "a"]}),
    (flows.through_sub, TEXTS),
    (flows.in_branch, {**TEXTS, "big": True}),
    (flows.in_branch, {**TEXTS, "big": False}),
]


@pytest.mark.parametrize(("wf", "inputs"), CASES, ids=lambda v: getattr(v, "name", None) or json.dumps(v))
def test_a_map_of_files_on_every_target(aws: Aws, tmp_path: Path, wf: Any, inputs: dict[str, Any]) -> None:
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "local"))
    assert local.ok, local.failures
    expected = without_uris(local.outputs)
    remote = aws.run(wf.ir, inputs)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert without_uris(remote.outputs) == expected
    assert without_uris(vertex(wf, inputs, tmp_path)) == expected


def test_the_files_are_the_ones_written_in_item_order(tmp_path: Path) -> None:
    """The collected handles name each item's content, in item order (not just equal sets)."""
    import hashlib

    texts = ["zz", "a", "mmm"]
    out = vertex(flows.made, {"texts": texts}, tmp_path)["out"]
    assert [h["sha256"] for h in out] == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    assert [Path(h["uri"]).read_text() for h in out] == texts
    assert {h["format"] for h in out} == {"typedflow.formats:Text"}


def test_an_exit_handler_block_passes_the_files_on(aws: Aws, tmp_path: Path) -> None:
    for target in ("local", "sfn", "vertex"):
        marks = tmp_path / target
        marks.mkdir()
        inputs = {**TEXTS, "marks": str(marks)}
        if target == "local":
            out: dict[str, Any] | None = run_workflow(flows.guarded, inputs, RunOptions(store=tmp_path / "s")).outputs
        elif target == "sfn":
            out = aws.run(flows.guarded.ir, inputs).outputs
        else:
            out = vertex(flows.guarded, inputs, tmp_path / "v")
        assert out == {"out": "bc|a"}, target
        assert (marks / "closed").exists(), target


# ----------------------------------------------------------------------------- the spec's shape


def _loop_components(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: c for k, c in spec["components"].items() if k.startswith("comp-for-loop")}


def test_collected_files_are_an_artifact_list_as_kfp_compiles_them() -> None:
    spec = compile_spec(flows.remapped.ir)
    assert check_strict(spec) == [] and check(spec) == []
    made = spec["components"]["comp-made"]
    out = made["outputDefinitions"]["artifacts"]["out"]
    assert out["isArtifactList"] is True
    assert out["artifactType"] == {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}
    loops = _loop_components(spec)
    collecting = [c for c in loops.values() if "artifacts" in c.get("outputDefinitions", {})]
    (body,) = collecting
    (selector,) = body["dag"]["outputs"]["artifacts"].values()
    assert selector["artifactSelectors"][0]["producerSubtask"] == "write"
    # the map over those files: an artifact iterator whose item is a single artifact
    iterating = [
        t
        for c in spec["components"].values()
        for t in c.get("dag", {}).get("tasks", {}).values()
        if "artifactIterator" in t
    ]
    (loop,) = iterating
    it = loop["artifactIterator"]
    assert it["items"]["inputArtifact"] in loop["inputs"]["artifacts"]
    item = spec["components"][loop["componentRef"]["name"]]["inputDefinitions"]["artifacts"][it["itemInput"]]
    assert "isArtifactList" not in item
    # Dataset formats keep their artifact type in the list
    tables = compile_spec(flows.tables.ir)
    assert tables["root"]["outputDefinitions"]["artifacts"]["out"]["artifactType"]["schemaTitle"] == "system.Dataset"


def test_the_container_reads_an_artifact_list_as_the_list_of_handles() -> None:
    spec = compile_spec(flows.collected.ir)
    (label,) = [k for k in spec["deploymentSpec"]["executors"] if k.startswith("exec-joined")]
    args = spec["deploymentSpec"]["executors"][label]["container"]["args"]
    payload = json.loads(args[args.index("--task") + 1])
    assert payload["lists"] == ["files"]
    assert spec["components"]["comp-joined"]["inputDefinitions"]["artifacts"]["files"]["isArtifactList"] is True


def test_checker_tells_an_artifact_list_from_a_single_artifact() -> None:
    spec = copy.deepcopy(compile_spec(flows.collected.ir))
    spec["components"]["comp-joined"]["inputDefinitions"]["artifacts"]["files"].pop("isArtifactList")
    assert any("an artifact list flows into a single artifact input" in p for p in check(spec))
    spec = copy.deepcopy(compile_spec(flows.remapped.ir))
    body = next(c for c in _loop_components(spec).values() if "artifacts" in c.get("outputDefinitions", {}))
    for d in body["outputDefinitions"]["artifacts"].values():
        d.pop("isArtifactList")
    assert any("a loop collects single artifacts into an artifact list" in p for p in check(spec))
