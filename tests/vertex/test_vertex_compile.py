"""Compiled specs parse strictly, pass the structural checker and load in kfp with our signature."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import vertex_flows as flows
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb
from typedflow.backends.vertex import BACKEND
from typedflow.backends.vertex.compiler import compile_spec
from typedflow.backends.vertex.dag import CompileError
from typedflow.backends.vertex.typemap import coerce, parameter_type, type_from_description

from tests.support.vertex_spec import check, check_strict
from typedflow.ir import TypeRef
from typedflow.lineage.record import RecordStatus

WORKFLOWS = [
    flows.chain,
    flows.diamond,
    flows.fan,
    flows.branch,
    flows.retried,
    flows.files,
    flows.records,
    flows.nested,
    flows.guarded,
    flows.maybe,
    flows.escapes,
    flows.either,
    flows.picked,
    flows.deep,
]


def strict(spec: Mapping[str, Any]) -> None:
    json_format.ParseDict(spec, pb.PipelineSpec(), ignore_unknown_fields=False)
    for ex in spec["deploymentSpec"]["executors"].values():
        json_format.ParseDict(ex, pb.PipelineDeploymentConfig.ExecutorSpec(), ignore_unknown_fields=False)


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_spec_is_strict_sound_and_deterministic(wf: Any) -> None:
    spec = compile_spec(wf.ir)
    strict(spec)
    assert check_strict(spec) == []
    assert check(spec) == []
    assert spec["schemaVersion"] == "2.1.0"
    assert json.dumps(compile_spec(wf.ir), sort_keys=True) == json.dumps(spec, sort_keys=True)


def _signature_of_workflow(wf: Any) -> tuple[dict[str, str], dict[str, str]]:
    ins = {p.name: parameter_type(p.type) for p in wf.ir.workflow.inputs}
    outs = {p.name: parameter_type(p.type) for p in wf.ir.workflow.outputs}
    return ins, outs


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_kfp_loads_the_file_with_the_workflow_signature(wf: Any, tmp_path: Path) -> None:
    from kfp import components

    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(wf.ir, {"output": str(path)}))
    comp = components.load_component_from_file(str(path))
    comp.pipeline_spec  # noqa: B018 - kfp parses the spec strictly on access
    assert comp.name == wf.ir.workflow.name
    ins = {k: v.type for k, v in (comp.component_spec.inputs or {}).items()}
    outs = {k: v.type for k, v in (comp.component_spec.outputs or {}).items()}
    kfp_names = {
        "NUMBER_INTEGER": "Integer",
        "NUMBER_DOUBLE": "Float",
        "STRING": "String",
        "BOOLEAN": "Boolean",
        "LIST": "List",
        "STRUCT": "Dict",
    }
    want_in, want_out = _signature_of_workflow(wf)
    assert ins == {k: kfp_names[v] for k, v in want_in.items()}
    assert outs == {k: kfp_names[v] for k, v in want_out.items()}


def test_output_format_follows_the_suffix(tmp_path: Path) -> None:
    as_json = BACKEND.compile(flows.chain.ir, {"output": str(tmp_path / "p.json")})
    as_yaml = BACKEND.compile(flows.chain.ir, {"output": str(tmp_path / "p.yml")})
    assert json.loads(as_json) == yaml.safe_load(as_yaml)
    assert json.loads(BACKEND.compile(flows.chain.ir, {"output": None}))["pipelineInfo"]["name"] == "chain"


def test_policies_map_to_vertex_fields() -> None:
    spec = compile_spec(flows.retried.ir)
    flaky = spec["root"]["dag"]["tasks"]["flaky"]
    assert flaky["retryPolicy"] == {
        "maxRetryCount": 2,
        "backoffDuration": "0s",
        "backoffFactor": 1.0,
        "backoffMaxDuration": "0s",
    }
    assert flaky["cachingOptions"] == {"enableCache": True}
    spec = compile_spec(flows.records.ir)
    res = spec["deploymentSpec"]["executors"]["exec-stats"]["container"]["resources"]
    assert res["resourceCpuLimit"] == "2" and res["resourceMemoryLimit"] == "4Gi"
    assert res["accelerator"]["resourceType"] == "NVIDIA_TESLA_T4" and res["accelerator"]["resourceCount"] == "1"
    args = spec["deploymentSpec"]["executors"]["exec-stats"]["container"]["args"]
    payload = json.loads(args[args.index("--task") + 1])
    # the code digest is part of what Vertex fingerprints for its cache
    assert payload["template"]["code_digest"] == flows.stats.template.code_digest


def test_types_are_recorded_and_values_coerced_back() -> None:
    spec = compile_spec(flows.records.ir)
    cfg = spec["root"]["inputDefinitions"]["parameters"]["cfg"]
    assert cfg["parameterType"] == "STRUCT"
    t = type_from_description(cfg["description"])
    assert t is not None and t.name.endswith(":Config")
    files = compile_spec(flows.files.ir)
    art = files["components"]["comp-write-csv"]["outputDefinitions"]["artifacts"]["out"]
    assert art["artifactType"]["schemaTitle"] == "system.Dataset"
    lt = TypeRef("list", (TypeRef("dict", (TypeRef("int"),)),))
    assert coerce([{"a": 1.0}, {"b": 2.0}], lt) == [{"a": 1}, {"b": 2}]
    assert isinstance(coerce([{"a": 1.0}], lt)[0]["a"], int)


def test_defaults_and_on_failure_exit_handler() -> None:
    spec = compile_spec(flows.chain.ir)
    y = spec["root"]["inputDefinitions"]["parameters"]["y"]
    assert y["defaultValue"] == 2 and y["isOptional"] is True
    spec = compile_spec(flows.guarded.ir)
    tasks = spec["root"]["dag"]["tasks"]
    exit_task = next(t for t in tasks.values() if t.get("triggerPolicy", {}).get("strategy"))
    assert exit_task["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert exit_task["inputs"]["parameters"]["status"] == {"taskFinalStatus": {"producerTask": "exit-handler-1"}}


def test_conditions_compile_to_cel_over_task_inputs() -> None:
    spec = compile_spec(flows.branch.ir)
    group = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    conds = sorted(t["triggerPolicy"]["condition"] for t in group.values())
    assert conds == [
        "!(inputs.parameter_values['pipelinechannel--double-out'] > 10.0)",
        "inputs.parameter_values['pipelinechannel--double-out'] > 10.0",
    ]


def test_branch_values_surface_through_one_of_outputs() -> None:
    spec = compile_spec(flows.escapes.ir)
    group = spec["components"]["comp-condition-branches-1"]
    # no `otherwise` was written: an implicit one supplies a placeholder and a `false` flag
    conds = [t["triggerPolicy"]["condition"] for _, t in sorted(group["dag"]["tasks"].items())]
    assert conds == [
        "inputs.parameter_values['pipelinechannel--x'] > 3.0",
        "!(inputs.parameter_values['pipelinechannel--x'] > 3.0)",
    ]
    outs = group["dag"]["outputs"]["parameters"]
    assert outs["pipelinechannel--mark-int-out"] == {
        "valueFromOneof": {
            "parameterSelectors": [
                {"producerSubtask": "condition-1", "outputParameterKey": "pipelinechannel--mark-int-out"},
                {"producerSubtask": "condition-2", "outputParameterKey": "pipelinechannel--mark-int-out"},
            ]
        }
    }
    assert group["outputDefinitions"]["parameters"]["pipelinechannel--mark-int-ran"]["parameterType"] == "BOOLEAN"
    taken = spec["components"]["comp-condition-1"]["dag"]["outputs"]["parameters"]
    assert taken["pipelinechannel--mark-int-ran"]["valueFromParameter"] == {
        "producerSubtask": "mark-int",
        "outputParameterKey": "typedflow-ran",
    }
    absent = spec["components"]["comp-condition-2"]["dag"]["tasks"]
    (task,) = absent.values()
    label = "exec-" + task["componentRef"]["name"][len("comp-") :]
    args = spec["deploymentSpec"]["executors"][label]["container"]["args"]
    assert json.loads(args[args.index("--const") + 1]) == {
        "outputs": {"pipelinechannel--mark-int-out": 0, "pipelinechannel--mark-int-ran": False}
    }
    consumer = spec["root"]["dag"]["tasks"]["describe-maybe"]["inputs"]["parameters"]
    assert consumer["y"] == {
        "taskOutputParameter": {"producerTask": "when", "outputParameterKey": "pipelinechannel--mark-int-out"}
    }
    assert consumer["y__present"]["taskOutputParameter"]["outputParameterKey"] == "pipelinechannel--mark-int-ran"


def test_present_flag_decodes_to_none() -> None:
    from typedflow.backends.vertex.entrypoint import build_value

    ei = {"inputs": {"parameterValues": {"y": 0, "y__present": False, "z": 4, "z__present": True}}}
    assert build_value(ei, {"in": "y", "present": "y__present"}) is None
    assert build_value(ei, {"in": "z", "present": "z__present"}) == 4


def test_attempt_counts_the_failed_records_of_the_same_node_instance(tmp_path: Path) -> None:
    # Vertex does not tell a container its attempt: the entrypoint counts the records already written
    # under the pipeline root. A map's items run the same node on other inputs: they are not attempts.
    from typedflow.backends.vertex.entrypoint import _attempt, write_record

    from tests.support import context_flows
    from typedflow.runtime.recording import task_record

    template = context_flows.context_mapped.ir.task("whereabouts")

    def written(x: int, status: RecordStatus, attempt: int) -> None:
        write_record(
            tmp_path,
            task_record(
                doc_name="context_mapped",
                ir_digest="sha256:d",
                run_id="job-1",
                target="vertex",
                executor="vertex-container",
                template=template,
                node_id="whereabouts",
                status=status,
                attempt=attempt,
                inputs={"x": x},
                outputs={},
                started_at="2026-12-04T00:00:00.000000Z",
                ended_at=None,
                cache_key=None,
            ),
        )

    assert _attempt(tmp_path, "job-1", "whereabouts", template, {"x": 5}) == 1
    written(5, "succeeded", 1)  # another item
    written(6, "failed", 1)  # another item's failed first attempt
    assert _attempt(tmp_path, "job-1", "whereabouts", template, {"x": 7}) == 1
    assert _attempt(tmp_path, "job-1", "whereabouts", template, {"x": 6}) == 2
    written(6, "failed", 2)
    assert _attempt(tmp_path, "job-1", "whereabouts", template, {"x": 6}) == 3
    assert _attempt(tmp_path, "job-2", "whereabouts", template, {"x": 6}) == 1  # another run
    assert _attempt(tmp_path, "job-1", "other", template, {"x": 6}) == 1  # another node


def test_files_and_condition_operands_from_branches_are_refused_with_a_location() -> None:
    with pytest.raises(CompileError, match=r"vertex_flows.py:\d+: the file 'out' of 'write_csv'"):
        compile_spec(flows.file_escapes.ir)
    with pytest.raises(CompileError, match=r"vertex_flows.py:\d+: .*condition operand"):
        compile_spec(flows.operand_escapes.ir)


def test_checker_understands_one_of_outputs() -> None:
    spec = copy.deepcopy(compile_spec(flows.escapes.ir))
    outs = spec["components"]["comp-condition-branches-1"]["dag"]["outputs"]["parameters"]
    sel = outs["pipelinechannel--mark-int-out"]["valueFromOneof"]["parameterSelectors"]
    sel[1]["outputParameterKey"] = "pipelinechannel--mark-int-ran"
    assert any("BOOLEAN flows into a NUMBER_INTEGER" in p for p in check(spec))
    del sel[1]
    assert any("two or more branches" in p for p in check(spec))


# ----------------------------------------------------------------------------- the checker itself


def _broken(mutate: Any) -> list[str]:
    spec = copy.deepcopy(compile_spec(flows.diamond.ir))
    mutate(spec)
    return check(spec)


def test_checker_reports_dangling_references_type_mismatches_and_cycles() -> None:
    tasks: Callable[[dict[str, Any]], Any] = lambda s: s["root"]["dag"]["tasks"]  # noqa: E731

    def bad_ref(s: dict[str, Any]) -> None:
        tasks(s)["double"]["componentRef"]["name"] = "comp-nope"

    def bad_producer(s: dict[str, Any]) -> None:
        tasks(s)["add"]["inputs"]["parameters"]["a"]["taskOutputParameter"]["producerTask"] = "ghost"

    def bad_key(s: dict[str, Any]) -> None:
        tasks(s)["add"]["inputs"]["parameters"]["a"]["taskOutputParameter"]["outputParameterKey"] = "nope"

    def bad_type(s: dict[str, Any]) -> None:
        s["components"]["comp-add"]["inputDefinitions"]["parameters"]["a"]["parameterType"] = "STRING"

    def bad_label(s: dict[str, Any]) -> None:
        s["components"]["comp-add"]["executorLabel"] = "exec-nope"

    def cycle(s: dict[str, Any]) -> None:
        tasks(s)["double"]["dependentTasks"] = ["scale-2"]

    assert any("componentRef" in p for p in _broken(bad_ref))
    assert any("'ghost'" in p for p in _broken(bad_producer))
    assert any("no output 'nope'" in p for p in _broken(bad_key))
    assert any("flows into a STRING" in p for p in _broken(bad_type))
    assert any("executorLabel" in p for p in _broken(bad_label))
    assert any("cycle" in p for p in _broken(cycle))

    spec = copy.deepcopy(compile_spec(flows.branch.ir))
    group = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    first = sorted(group)[0]
    group[first]["triggerPolicy"]["condition"] = "inputs.parameter_values['pipelinechannel--nope'] > 1.0"
    assert any("'pipelinechannel--nope'" in p for p in check(spec))


def test_checker_uses_typedflow_assignability() -> None:
    spec = copy.deepcopy(compile_spec(flows.records.ir))
    comp = spec["components"]["comp-describe-cfg"]["inputDefinitions"]["parameters"]["cfg"]
    comp["description"] = comp["description"].replace("vertex_flows:Config", "vertex_flows:Other")
    assert any("flows into a Other input" in p for p in check(spec))


def test_compiler_imports_no_cloud_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, typedflow.backends.vertex, typedflow.backends.vertex.compiler; "
        "print(any(m.startswith(('google.cloud.aiplatform', 'kfp')) for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
