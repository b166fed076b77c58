"""The Vertex task container reads its executor input as untrusted: bad JSON is a clear error, values
are checked against the declared types (never coerced), handles must lie under the pipeline root and
match their digests. Driven with the arguments the compiled spec gives the container."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.vertex.compiler import compile_spec
from typedflow.backends.vertex.entrypoint import main

from tests.security import flows


def _args(wf: Any, executor: str) -> list[str]:
    spec = compile_spec(wf.ir)
    args: list[str] = spec["deploymentSpec"]["executors"][executor]["container"]["args"]
    return args


def _executor_input(tmp_path: Path, params: dict[str, Any], artifacts: dict[str, Any] | None = None) -> str:
    """An executor input whose output file is in ``tmp_path/out`` (``tmp_path``: the pipeline root or a folder
    under it, where Vertex and kfp.local put a task's outputs)."""
    return json.dumps(
        {
            "inputs": {"parameterValues": params, "artifacts": artifacts or {}},
            "outputs": {"outputFile": str(tmp_path / "out" / "executor_output.json"), "artifacts": {}},
        }
    )


def _run(args: list[str], executor_input: str, root: Path) -> int:
    given = list(args)
    given[given.index("--executor-input") + 1] = executor_input
    given[given.index("--pipeline-root") + 1] = str(root)
    given[given.index("--job") + 1] = "job-1"
    return main(given)


def test_executor_input_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(flows.doubled, "exec-number")
    assert _run(args, "{not json", tmp_path) == 2
    assert "not JSON" in capsys.readouterr().err
    assert _run(args, "[1, 2]", tmp_path) == 2


def test_a_value_of_another_type_is_not_coerced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(flows.doubled, "exec-number")
    assert _run(args, _executor_input(tmp_path, {"x": 1.5}), tmp_path) == 1
    assert "expected int" in capsys.readouterr().err
    assert _run(args, _executor_input(tmp_path, {"x": 2.0}), tmp_path) == 0  # Vertex's double of an int
    out = json.loads((tmp_path / "out" / "executor_output.json").read_text())
    assert out["parameterValues"]["out"] == 4


def _artifact(uri: str, sha: str) -> dict[str, Any]:
    return {"f": {"artifacts": [{"uri": uri, "metadata": {"sha256": sha, "format": "typedflow.formats:Text"}}]}}


def test_artifacts_outside_the_pipeline_root_or_changed_are_refused(tmp_path: Path) -> None:
    args = _args(flows.roundtrip_file, "exec-read")
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    sha = hashlib.sha256(b"secret").hexdigest()
    assert _run(args, _executor_input(root, {}, _artifact(str(outside), sha)), root) == 1
    inside = root / "a.txt"
    inside.write_text("hello")
    good = hashlib.sha256(b"hello").hexdigest()
    assert _run(args, _executor_input(root, {}, _artifact(str(inside), good)), root) == 0
    inside.write_text("changed")
    assert _run(args, _executor_input(root, {}, _artifact(str(inside), good)), root) == 1


def test_every_file_of_an_artifact_list_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files a map collected reach a task as an artifact list: each one must lie under the pipeline root and
    match its digest, and a payload naming its lists wrongly is a request error."""
    from tests.support import map_file_flows

    args = _args(map_file_flows.collected, "exec-joined")
    root = tmp_path / "root"
    root.mkdir()
    texts = {"a.txt": "one", "b.txt": "two"}
    for name, text in texts.items():
        (root / name).write_text(text)

    def listed(paths: list[Path], shas: list[str]) -> dict[str, Any]:
        meta = [
            {"uri": str(p), "metadata": {"sha256": s, "format": "typedflow.formats:Text"}}
            for p, s in zip(paths, shas, strict=True)
        ]
        return {"files": {"artifacts": meta}}

    paths = [root / "a.txt", root / "b.txt"]
    shas = [hashlib.sha256(t.encode()).hexdigest() for t in texts.values()]
    assert _run(args, _executor_input(root, {}, listed(paths, shas)), root) == 0
    out = json.loads((root / "out" / "executor_output.json").read_text())
    assert out["parameterValues"]["out"] == "one|two"
    assert _run(args, _executor_input(root, {}, listed(paths, [shas[0], shas[0]])), root) == 1
    outside = tmp_path / "outside.txt"
    outside.write_text("two")
    assert _run(args, _executor_input(root, {}, listed([paths[0], outside], shas)), root) == 1
    bad = list(args)
    i = bad.index("--task") + 1
    bad[i] = json.dumps({**json.loads(bad[i]), "lists": "files"})
    assert _run(bad, _executor_input(root, {}, listed(paths, shas)), root) == 2
    assert "--task: lists must be a list, not a string" in capsys.readouterr().err


def test_the_tolerance_step_checks_what_the_loop_handed_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support import distributed_flows

    args = _args(distributed_flows.tolerant, "exec-map-tolerance")
    failure = json.dumps({"error_type": "ValueError", "message": "item 1 fails"})
    flags = ["" if i != 1 else failure for i in range(10)]  # 1 of 10 failed: floor(0.1 * 10) tolerated
    assert _run(args, _executor_input(tmp_path, {"out": list(range(10)), "typedflow-failed-0": flags}), tmp_path) == 0
    out = json.loads((tmp_path / "out" / "executor_output.json").read_text())
    assert out["parameterValues"]["out"] == [0, None, *range(2, 10)]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"out": [0, 1], "typedflow-failed-0": [""]}, "lists of one length"),
        ({"out": [0], "typedflow-failed-0": ["{not json"]}, "the failure of item 0"),
        ({"out": [0], "typedflow-failed-0": ["[1]"]}, "not a JSON object"),
        ({"out": "0", "typedflow-failed-0": []}, "lists of one length"),
    ]
    for params, problem in cases:
        assert _run(args, _executor_input(tmp_path, params), tmp_path) == 2
        err = capsys.readouterr().err
        assert problem in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("mode", "payload", "says"),
    [
        ("--task", "[1]", "--task: not a JSON object"),
        ("--task", '{"template": 5}', "--task: workflow is missing"),
        ("--value", "{}", "--value: type is missing"),
        ("--outputs", '{"types": []}', "--outputs: types must be an object, not a list"),
        ("--const", '{"outputs": 5}', "--const: outputs must be an object, not a number"),
        ("--const", "{", "--const: not JSON"),
    ],
)
def test_a_step_argument_of_the_wrong_shape_names_it(
    tmp_path: Path, mode: str, payload: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ei = _executor_input(tmp_path, {})
    assert main(["--executor-input", ei, "--pipeline-root", str(tmp_path), mode, payload]) == 2
    assert f"typedflow.RequestError: {says}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
