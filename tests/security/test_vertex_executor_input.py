"""A forged KFP executor input cannot make the Vertex task container write where it likes, and one of the
wrong shape is refused with exit 2 naming the field, never a traceback. The places it writes (the executor
output file, each output artifact) must lie under the pipeline root, as Vertex (``/gcs/<root>/...``) and
kfp.local (``<pipeline root>/<job>/<task>/...``) give them."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typedflow.backends.vertex import executor_input
from typedflow.backends.vertex.entrypoint import main

from tests.security import flows
from tests.security.test_vertex_entrypoint import _args, _run
from tests.vertex import vertex_flows


def _ei(out_file: str, params: dict[str, Any], out_arts: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "inputs": {"parameterValues": params},
        "outputs": {"outputFile": out_file, "artifacts": out_arts or {}},
    }


def _out_art(uri: str) -> dict[str, Any]:
    return {"out": {"artifacts": [{"name": "out", "uri": uri, "type": {"schemaTitle": "system.Artifact"}}]}}


def _refused(code: int, err: str, says: str) -> None:
    assert code == 2, err
    assert err.startswith("typedflow.RequestError: --executor-input: ") and says in err, err
    assert "Traceback" not in err


def _planted(tmp_path: Path) -> tuple[Path, Path]:
    """The pipeline root and, outside it, a file a forged input would overwrite."""
    root = tmp_path / "root"
    (root / "task").mkdir(parents=True)
    victim = tmp_path / "victim.json"
    victim.write_text("intact")
    return root, victim


def _forged_out_files(tmp_path: Path, root: Path, victim: Path) -> list[tuple[str, str]]:
    os.symlink(victim, root / "task" / "link.json")
    (root / "task" / "folder.json").mkdir()
    os.mkfifo(root / "task" / "fifo.json")
    os.symlink(tmp_path, root / "escape")  # a folder of the root that leads out of it
    return [
        ("task/executor_output.json", "outputs.outputFile 'task/executor_output.json' is not an absolute path"),
        (f"{root}/task/../../victim.json", "has a '..' component"),
        (str(victim), f"outputs.outputFile {victim} is not under the pipeline root {root}"),
        (str(root / "task" / "link.json"), f"outputs.outputFile {root}/task/link.json is a symbolic link"),
        (str(root / "task" / "folder.json"), "folder.json is not a regular file"),
        (str(root / "task" / "fifo.json"), "fifo.json is not a regular file"),
        (str(root / "escape" / "victim.json"), "leads outside the pipeline root through a symbolic link"),
        (str(root), "is not under the pipeline root"),
        (f"{root}/task/\0.json", "outputs.outputFile holds a NUL character"),
        ("", "outputs.outputFile must not be empty"),
    ]


def test_a_forged_executor_output_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, victim = _planted(tmp_path)
    args = _args(flows.doubled, "exec-number")
    forged = _forged_out_files(tmp_path, root, victim)
    before = sorted(tmp_path.rglob("*"))
    for out_file, says in forged:
        code = _run(args, json.dumps(_ei(out_file, {"x": 2})), root)
        _refused(code, capsys.readouterr().err, says)
        assert victim.read_text() == "intact"
        assert sorted(tmp_path.rglob("*")) == before, "nothing is written, not even lineage"


def test_a_forged_output_artifact_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The output artifact URIs are where the task's files are copied (and a stood-down task writes an empty
    one): the same rule as for the executor output file, a folder being fine."""
    root, victim = _planted(tmp_path)
    os.symlink(victim, root / "task" / "link")
    os.mkfifo(root / "task" / "fifo")
    args = _args(flows.produced, "exec-write")
    where = "outputs.artifacts.out.artifacts[0].uri"
    cases = [
        (str(victim), f"{where} {victim} is not under the pipeline root"),
        (f"gs://bucket/{victim}", f"{where} /gcs/bucket{victim} is not under the pipeline root"),
        (f"{root}/task/../../victim.json", f"{where} '{root}/task/../../victim.json' has a '..' component"),
        (str(root / "task" / "link"), f"{where} {root}/task/link is a symbolic link"),
        (str(root / "task" / "fifo"), f"{where} {root}/task/fifo is not a file or folder"),
        ("relative/out", f"{where} 'relative/out' is not an absolute path"),
    ]
    out_file = str(root / "task" / "executor_output.json")
    for uri, says in cases:
        code = _run(args, json.dumps(_ei(out_file, {"text": "hi"}, _out_art(uri))), root)
        _refused(code, capsys.readouterr().err, says)
        assert victim.read_text() == "intact"
        assert not (root / "task" / "executor_output.json").exists()


def test_without_a_pipeline_root_the_outputs_stay_in_the_output_files_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``{{$.pipeline_root}}`` left unsubstituted: the folder of the executor output file is the root."""
    root, victim = _planted(tmp_path)
    args = _args(flows.produced, "exec-write")
    given_args = list(args)
    given_args[given_args.index("--executor-input") + 1] = json.dumps(
        _ei(str(root / "task" / "executor_output.json"), {"text": "hi"}, _out_art(str(victim)))
    )
    assert main(given_args) == 2  # the compiled spec's own placeholders for the root and the job
    _refused(2, capsys.readouterr().err, f"outputs.artifacts.out.artifacts[0].uri {victim} is not under")
    given_args[given_args.index("--executor-input") + 1] = json.dumps(
        _ei(str(root / "task" / "executor_output.json"), {"text": "hi"}, _out_art(str(root / "task" / "out")))
    )
    assert main(given_args) == 0, capsys.readouterr().err
    assert (root / "task" / "out").read_text() == "hi"


def test_a_pipeline_root_that_is_not_absolute_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(flows.doubled, "exec-number")
    ei = json.dumps(_ei(str(tmp_path / "task" / "executor_output.json"), {"x": 2}))
    given_args = list(args)
    given_args[given_args.index("--executor-input") + 1] = ei
    given_args[given_args.index("--pipeline-root") + 1] = "../elsewhere"
    assert main(given_args) == 2
    err = capsys.readouterr().err
    assert "--pipeline-root '../elsewhere' is not an absolute path" in err and "Traceback" not in err


def test_the_shapes_vertex_gives_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On Vertex the root is ``gs://bucket/folder``, the executor output file is in the task's folder under
    it through the ``/gcs/`` mount and output artifacts are ``gs://`` URIs in that folder (a folder stands in
    for the mount here)."""
    mount = tmp_path / "gcs"
    monkeypatch.setattr(executor_input, "GCS_MOUNT", f"{mount}/")
    task_dir = "bucket/pipelines/123456789/produced-20261207/write_-4242"
    args = _args(flows.produced, "exec-write")
    ei = _ei(f"{mount}/{task_dir}/executor_output.json", {"text": "hi"}, _out_art(f"gs://{task_dir}/out"))
    given_args = list(args)
    given_args[given_args.index("--executor-input") + 1] = json.dumps(ei)
    given_args[given_args.index("--pipeline-root") + 1] = "gs://bucket/pipelines"
    given_args[given_args.index("--job") + 1] = "produced-20261207"
    assert main(given_args) == 0, capsys.readouterr().err
    assert (mount / task_dir / "out").read_text() == "hi"
    written = json.loads((mount / task_dir / "executor_output.json").read_text())
    assert written["artifacts"]["out"]["artifacts"][0]["uri"] == f"gs://{task_dir}/out"
    assert list((mount / "bucket" / "pipelines" / "typedflow" / "lineage").rglob("*.json"))


def _deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


_OUT = "OUT"  # stands for the executor output file of each case


@pytest.mark.parametrize(
    ("ei", "says"),
    [
        (
            {"inputs": {"parameterValues": [1]}, "outputs": {"outputFile": _OUT}},
            "inputs.parameterValues must be an object, not a list",
        ),
        ({"inputs": [], "outputs": {"outputFile": _OUT}}, "inputs must be an object, not a list"),
        ({"inputs": {}}, "outputs is missing"),
        ({"outputs": {"artifacts": {}}}, "outputs.outputFile is missing"),
        ({"outputs": {"outputFile": 5}}, "outputs.outputFile must be a string, not a number"),
        ({"outputs": {"outputFile": _OUT, "artifacts": []}}, "outputs.artifacts must be an object, not a list"),
        ({"outputs": {"outputFile": _OUT, "artifacts": {"out": []}}}, "outputs.artifacts.out must be an object"),
        ({"outputs": {"outputFile": _OUT, "artifacts": {"out": {}}}}, "outputs.artifacts.out.artifacts is missing"),
        (
            {"outputs": {"outputFile": _OUT, "artifacts": {"out": {"artifacts": []}}}},
            "outputs.artifacts.out.artifacts must not be empty",
        ),
        (
            {"outputs": {"outputFile": _OUT, "artifacts": {"out": {"artifacts": [{"uri": 5}]}}}},
            "outputs.artifacts.out.artifacts[0].uri must be a string, not a number",
        ),
        (
            {"outputs": {"outputFile": _OUT, "artifacts": {"out": {"artifacts": [{"name": "out"}]}}}},
            "outputs.artifacts.out.artifacts[0].uri is missing",
        ),
        (
            {"outputs": {"outputFile": _OUT, "parameters": {"out": {"outputFile": ["x"]}}}},
            "outputs.parameters.out.outputFile must be a string, not a list",
        ),
        (
            {"inputs": {"artifacts": {"f": {"artifacts": [{"uri": None}]}}}, "outputs": {"outputFile": _OUT}},
            "inputs.artifacts.f.artifacts[0].uri must be a string, not null",
        ),
        (
            {
                "inputs": {"artifacts": {"f": {"artifacts": [{"uri": "/x", "metadata": []}]}}},
                "outputs": {"outputFile": _OUT},
            },
            "inputs.artifacts.f.artifacts[0].metadata must be an object or null, not a list",
        ),
        (
            {"inputs": {"artifacts": {"a.b c": {"artifacts": {}}}}, "outputs": {"outputFile": _OUT}},
            "inputs.artifacts['a.b c'].artifacts must be a list, not an object",
        ),
        (
            {
                "inputs": {"artifacts": {"f": {"artifacts": [{"uri": "/x", "metadata": {"sha256": 1}}]}}},
                "outputs": {"outputFile": _OUT},
            },
            "inputs.artifacts.f.artifacts[0].metadata.sha256 must be a string, not a number",
        ),
        ({"inputs": {"parameterValues": {"x": _deep(500)}}, "outputs": {"outputFile": _OUT}}, "nested more than"),
    ],
)
def test_an_executor_input_of_the_wrong_shape_names_the_field(
    tmp_path: Path, ei: dict[str, Any], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(ei).replace(json.dumps(_OUT), json.dumps(str(tmp_path / "task" / "executor_output.json")))
    for wf, label in ((flows.doubled, "exec-number"), (flows.produced, "exec-write")):
        code = _run(_args(wf, label), text, tmp_path)
        err = capsys.readouterr().err
        if "nested" not in says:
            _refused(code, err, says)
        else:
            assert code == 2 and says in err and "Traceback" not in err
        assert not list(tmp_path.rglob("*.json"))


def test_a_record_input_of_another_shape_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A field selected from a record input (``cfg.name``) that Vertex handed as a list, a string or without the
    field: the input is named, exit 2."""
    args = _args(vertex_flows.nested, "exec-label")
    out_file = str(tmp_path / "task" / "executor_output.json")
    for bad, says in (
        (["a"], "input 'text' must be an object holding 'name', not a list"),
        ("name", "input 'text' must be an object holding 'name', not a string"),
        ({"threshold": 1.0}, "input 'text' must be an object holding 'name', not one without it"),
    ):
        code = _run(args, json.dumps(_ei(out_file, {"text": bad, "x": 1})), tmp_path)
        err = capsys.readouterr().err
        assert code == 2 and f"typedflow.RequestError: {says}" in err and "Traceback" not in err, err
    code = _run(args, json.dumps(_ei(out_file, {"text": {"name": "n", "threshold": 1.0}, "x": 1})), tmp_path)
    assert code == 0, capsys.readouterr().err


def test_a_final_status_of_another_shape_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The final status an exit handler reads is Vertex's object; a list, or an ``error`` that is no object,
    is named."""
    args = _args(vertex_flows.guarded, "exec-notify-on-failure")
    out_file = str(tmp_path / "task" / "executor_output.json")
    for status, says in (
        ([1], "input 'status' must be an object (the task's final status), not a list"),
        ({"state": "FAILED", "error": "boom"}, "input 'status': 'error' must be an object, not a string"),
    ):
        code = _run(args, json.dumps(_ei(out_file, {"status": status})), tmp_path)
        err = capsys.readouterr().err
        assert code == 2 and f"typedflow.RequestError: {says}" in err and "Traceback" not in err, err
    failed = {"state": "FAILED", "error": {"message": "negative"}, "pipelineTaskName": "boom"}
    assert _run(args, json.dumps(_ei(out_file, {"status": failed})), tmp_path) == 0, capsys.readouterr().err
    assert json.loads(Path(out_file).read_text())["parameterValues"]["out"] == "negative"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*at, i))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_field_replaced_by_any_json_is_an_answer_not_a_traceback(tmp_path: Path, data: st.DataObject) -> None:
    """Replace one field (at any depth) of a valid executor input by any JSON value: the container answers
    with an exit code (0, 1 for a value of another type, 2 for bad input) and never escapes the root."""
    root = tmp_path / "root"
    task_dir = root / "task"
    task_dir.mkdir(parents=True, exist_ok=True)
    wf, label, valid = data.draw(
        st.sampled_from(
            [
                (flows.doubled, "exec-number", _ei(str(task_dir / "o.json"), {"x": 2})),
                (
                    flows.produced,
                    "exec-write",
                    _ei(str(task_dir / "o.json"), {"text": "t"}, _out_art(str(task_dir / "a"))),
                ),
                (
                    vertex_flows.nested,
                    "exec-label",
                    _ei(str(task_dir / "o.json"), {"text": {"name": "n", "threshold": 1.0}, "x": 1}),
                ),
                (
                    vertex_flows.guarded,
                    "exec-notify-on-failure",
                    _ei(str(task_dir / "o.json"), {"status": {"state": "FAILED", "error": {"message": "m"}}}),
                ),
            ]
        )
    )
    ei = copy.deepcopy(valid)
    where = data.draw(st.sampled_from(_paths(ei)[1:]))
    parent = ei
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = data.draw(_JSON)
    code = _run(_args(wf, label), json.dumps(ei), root)
    assert code in (0, 1, 2)
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(root)]
    assert not outside, outside


def _payload(wf: Any, label: str, mode: str) -> dict[str, Any]:
    args = _args(wf, label)
    payload: dict[str, Any] = json.loads(args[args.index(mode) + 1])
    return payload


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"plan": {"x": 5}}, "--task: plan.x must be an object, not a number"),
        ({"plan": {"x": {}}}, "--task: plan.x must hold one of 'in', 'fields', 'record', 'oneof', 'failure', 'caught'"),
        ({"plan": {"x": {"in": 5}}}, "--task: plan.x.in must be a string, not a number"),
        ({"plan": {"x": {"in": "x", "path": "a"}}}, "--task: plan.x.path must be a list, not a string"),
        ({"plan": {"x": {"oneof": 5}}}, "--task: plan.x.oneof must be a list, not a number"),
        ({"plan": {"x": {"oneof": [{"in": 1}]}}}, "--task: plan.x.oneof[0].in must be a string, not a number"),
        ({"plan": {"x": {"record": {"a": []}}}}, "--task: plan.x.record.a must be an object, not a list"),
        ({"plan": {"x": {"fields": {"a": None}}}}, "--task: plan.x.fields.a must be a string, not null"),
        ({"plan": {"x": {"caught": "c"}}}, "--task: plan.x.caught must be a list, not a string"),
        ({"ran": 5}, "--task: ran must be a string, not a number"),
        ({"tolerate": ["t"]}, "--task: tolerate must be a string, not a list"),
        ({"on_failure": "yes"}, "--task: on_failure must be a boolean, not a string"),
        ({"template": {"name": 5}}, "--task: template"),
        ({"template": {}}, "--task: template.cache is missing"),
    ],
)
def test_a_task_argument_of_the_wrong_shape_names_the_field(
    tmp_path: Path, change: dict[str, Any], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``--task`` argument the compiled spec gives is checked all the way down (its plan, its template against
    the IR schema), not only its top-level fields."""
    payload = _payload(flows.doubled, "exec-number", "--task")
    if change.get("template"):
        change = {"template": {**payload["template"], **change["template"]}}
    ei = json.dumps(_ei(str(tmp_path / "task" / "executor_output.json"), {"x": 2}))
    code = main(["--executor-input", ei, "--pipeline-root", str(tmp_path), "--task", json.dumps({**payload, **change})])
    err = capsys.readouterr().err
    assert code == 2 and f"typedflow.RequestError: {says}" in err and "Traceback" not in err, err
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize(
    ("wf", "label", "mode", "change", "says"),
    [
        (
            vertex_flows.nested,
            "exec-typedflow-outputs",
            "--outputs",
            {"types": {"count": 5}},
            "types.count must be a string",
        ),
        (
            vertex_flows.nested,
            "exec-typedflow-outputs",
            "--outputs",
            {"types": {"count": "[1]"}},
            "--outputs: types.count must be an IR type's JSON object, not a list",
        ),
        (
            vertex_flows.nested,
            "exec-typedflow-outputs",
            "--outputs",
            {"types": {"count": '{"kind": 5}'}},
            "--outputs: types.count cannot be read as a type",
        ),
        (
            vertex_flows.nested,
            "exec-typedflow-outputs",
            "--outputs",
            {"single": "no"},
            "--outputs: single must be a boolean, not a string",
        ),
        (
            vertex_flows.nested,
            "exec-typedflow-outputs",
            "--outputs",
            {"lists": [1]},
            "--outputs: lists[0] must be a string, not a number",
        ),
    ],
)
def test_other_step_arguments_of_the_wrong_shape_name_the_field(
    tmp_path: Path,
    wf: Any,
    label: str,
    mode: str,
    change: dict[str, Any],
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = _payload(wf, label, mode)
    ei = json.dumps(_ei(str(tmp_path / "task" / "executor_output.json"), {"count": 1, "mean": 1.0}))
    argv = [
        "--executor-input",
        ei,
        "--pipeline-root",
        str(tmp_path),
        "--job",
        "j",
        mode,
        json.dumps({**payload, **change}),
    ]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err, err
    assert not list(tmp_path.rglob("*.json"))


def test_a_value_step_argument_of_the_wrong_shape_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ei = json.dumps(_ei(str(tmp_path / "task" / "executor_output.json"), {"x": 1}))
    for payload, says in (
        ({"type": '{"kind": "int"}', "plan": {"in": ["x"]}}, "--value: plan.in must be a string, not a list"),
        ({"type": "{", "plan": {"in": "x"}}, "--value: type: not JSON"),
        (
            {"type": '{"kind": "int"}', "plan": {"record": {"a": {"path": ["p"]}}}},
            "--value: plan.record.a must hold one of",
        ),
    ):
        code = main(["--executor-input", ei, "--pipeline-root", str(tmp_path), "--value", json.dumps(payload)])
        err = capsys.readouterr().err
        assert code == 2 and says in err and "Traceback" not in err, err
    good = {"type": '{"kind": "int"}', "plan": {"in": "x"}}
    assert main(["--executor-input", ei, "--pipeline-root", str(tmp_path), "--value", json.dumps(good)]) == 0
    assert json.loads((tmp_path / "task" / "executor_output.json").read_text())["parameterValues"]["out"] == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_field_of_a_task_argument_replaced_by_any_json_is_an_answer(tmp_path: Path, data: st.DataObject) -> None:
    """Replace one field (at any depth, the template's included) of a compiled ``--task`` argument by any JSON
    value: the container answers with an exit code, never a traceback out of ``main``."""
    root = tmp_path / "root"
    (root / "task").mkdir(parents=True, exist_ok=True)
    payload = _payload(vertex_flows.nested, "exec-label", "--task")
    where = data.draw(st.sampled_from(_paths(payload)[1:]))
    parent = payload
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = data.draw(_JSON)
    ei = json.dumps(_ei(str(root / "task" / "o.json"), {"text": {"name": "n", "threshold": 1.0}, "x": 1}))
    code = main(["--executor-input", ei, "--pipeline-root", str(root), "--job", "j", "--task", json.dumps(payload)])
    assert code in (0, 1, 2)


@pytest.mark.parametrize(
    ("mode", "payload", "says"),
    [
        ("--fail", {"error": "E", "message": "m", "tolerate": [1]}, "--fail: tolerate must be a string, not a list"),
        ("--fail", {"error": "E", "message": "m", "tolerate": "t", "upstream": "x"}, "--fail: upstream must be a list"),
        (
            "--tolerance",
            {"share": 0.1, "type": '{"kind": "int"}', "flags": [], "tolerate": {}},
            "--tolerance: tolerate",
        ),
        ("--tolerance", [0.1], "--tolerance: not a JSON object"),
    ],
)
def test_fail_and_tolerance_arguments_used_as_keys_are_checked(
    tmp_path: Path, mode: str, payload: Any, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ei = json.dumps(_ei(str(tmp_path / "task" / "executor_output.json"), {"out": [1], "typedflow-failed-0": [""]}))
    assert main(["--executor-input", ei, "--pipeline-root", str(tmp_path), mode, json.dumps(payload)]) == 2
    err = capsys.readouterr().err
    assert f"typedflow.RequestError: {says}" in err and "Traceback" not in err, err
