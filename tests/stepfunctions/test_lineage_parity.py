"""One workflow, three targets, one lineage: the local interpreter, the state machine executed by moto and
the PipelineSpec run by kfp.local write records with the same task code digests and output digests."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stepfunctions.conftest import Aws
from typedflow.lineage.cloud import iter_location
from typedflow.lineage.query import iter_records
from typedflow.lineage.record import record_from_dict
from typedflow.runtime.running import RunOptions, run_workflow

VERTEX_TESTS = Path(__file__).resolve().parents[1] / "vertex"


@pytest.fixture(scope="module")
def flows() -> Iterator[Any]:
    sys.path.insert(0, str(VERTEX_TESTS))
    with pytest.MonkeyPatch.context() as mp:  # for this module's subprocesses only
        mp.setenv(
            "PYTHONPATH",
            os.pathsep.join(
                dict.fromkeys([str(VERTEX_TESTS), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
            ),
        )
        import vertex_flows

        yield vertex_flows


def signature(records: list[Any]) -> Counter[tuple[str, str, tuple[tuple[str, str, str | None], ...]]]:
    """What must agree across targets: per task execution, its code digest and output digests."""
    return Counter(
        (r.task, r.code_digest, tuple(sorted((o.name, o.digest, o.sha256) for o in r.outputs)))
        for r in records
        if r.kind == "task" and r.status in ("succeeded", "cached")
    )


@pytest.mark.parametrize(("name", "inputs"), [("files", {"rows": 6}), ("fan", {"n": 4}), ("diamond", {"x": 3})])
def test_same_code_and_output_digests_on_every_target(
    aws: Aws, tmp_path: Path, flows: Any, name: str, inputs: dict[str, Any]
) -> None:
    from typedflow.backends.vertex import BACKEND as VERTEX

    from tests.vertex.kfp_harness import run_spec

    wf = getattr(flows, name)
    local = run_workflow(wf, inputs, RunOptions(store=tmp_path / "local"))
    assert local.ok
    local_records = [e[0] for e in iter_records(tmp_path / "local" / "lineage" / "log.jsonl")]
    assert {r.target for r in local_records} == {"local"}

    remote = aws.run(wf.ir, inputs)
    assert remote.status == "SUCCEEDED" and remote.outputs == local.outputs
    by_run: dict[str, list[Any]] = {}
    for obj in iter_location(aws.bucket, client=aws.s3):
        rec = record_from_dict(json.loads(obj.body))
        if rec.ir_digest == wf.ir.digest:
            by_run.setdefault(rec.run_id, []).append(rec)
    assert by_run, "the worker wrote no lineage objects"
    sfn_records = next(iter(by_run.values()))
    assert {(r.target, r.executor) for r in sfn_records} == {("stepfunctions", "sqs")}

    spec = tmp_path / "spec.yaml"
    spec.write_text(VERTEX.compile(wf.ir, {"output": str(spec)}))
    outs, _ = run_spec(spec, inputs, tmp_path / "kfp")
    assert outs == local.outputs
    vertex_records = [
        record_from_dict(json.loads(p.read_bytes())) for p in (tmp_path / "kfp").rglob("typedflow/lineage/*/*.json")
    ]
    assert {r.target for r in vertex_records} == {"vertex"}

    expected = signature(local_records)
    assert expected and sum(expected.values()) >= 2
    assert signature(sfn_records) == expected
    assert signature(vertex_records) == expected


def test_pull_state_machine_records_into_the_local_log(
    aws: Aws, tmp_path: Path, flows: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from typedflow.cli import main
    from typedflow.lineage.verify import verify_log

    remote = aws.run(flows.diamond.ir, {"x": 11})
    assert remote.status == "SUCCEEDED"
    run_ids = {record_from_dict(json.loads(o.body)).run_id for o in iter_location(aws.bucket, client=aws.s3)}
    run_id = next(r for r in sorted(run_ids) if r in remote.arn or remote.arn.endswith(r))
    log = tmp_path / "log.jsonl"
    rc = main(["lineage", "pull", run_id, "--target", "stepfunctions", "--from", aws.bucket, "--log", str(log)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "0 rejected" in out and "OK:" in out
    result = verify_log(log)
    assert result.ok and result.count >= 4
    assert {r.run_id for r, _ in iter_records(log)} == {run_id}
