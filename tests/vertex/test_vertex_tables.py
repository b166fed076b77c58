"""Typed tables on Vertex: the compiled spec runs under kfp.local with the local interpreter's outputs,
each table artifact's metadata has its column schema, and a violation fails the task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp_harness import run_spec
from typedflow.backends.vertex import BACKEND

from tests.tables import flows
from typedflow.runtime.running import RunOptions, run_workflow
from typedflow.tables.schema import schema_digest, schema_of

pytest.importorskip("pyarrow")


def test_tables_run_and_artifacts_carry_the_schema(tmp_path: Path) -> None:
    local = run_workflow(flows.churn, {"n": 12}, RunOptions(store=tmp_path / "local"))
    assert local.ok
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.churn.ir, {"output": str(path)}))
    outs, _ = run_spec(path, {"n": 12}, tmp_path / "kfp")
    assert outs == local.outputs == {"out": 25.5}
    metas = []
    for f in (tmp_path / "kfp").rglob("executor_output.json"):
        for arts in json.loads(f.read_text()).get("artifacts", {}).values():
            metas += [a.get("metadata", {}) for a in arts["artifacts"]]
    (meta,) = [m for m in metas if "schema" in m]
    assert meta["schema"]["digest"] == schema_digest(schema_of(flows.Raw))
    assert [c["name"] for c in meta["schema"]["columns"]] == ["id", "age", "country", "churned"]


def test_a_violation_fails_the_task(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(BACKEND.compile(flows.churn.ir, {"output": str(path)}))
    with pytest.raises(RuntimeError, match="ingest"):
        run_spec(path, {"n": 12, "corrupt": "missing"}, tmp_path / "kfp")
    records = [json.loads(p.read_text()) for p in (tmp_path / "kfp").rglob("lineage/*/*.json")]
    errors = [r["error"] for r in records if r.get("status") == "failed"]
    assert any('missing column "churned"' in e for e in errors), errors
