"""Typed tables through the shared runtime: what a task returns and receives is checked on its data;
lineage records each table's schema; the OpenLineage export has the schema facet; Vertex artifacts
carry the schema in their metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.tables import flows
from typedflow.lineage.export.openlineage import to_openlineage
from typedflow.lineage.query import iter_records
from typedflow.lineage.record import record_from_bytes, record_line
from typedflow.runtime.running import RunOptions, run_workflow
from typedflow.tables.schema import schema_digest, schema_of

pytest.importorskip("pyarrow")


def _run(wf: Any, inputs: dict[str, Any], store: Path) -> Any:
    return run_workflow(wf, inputs, RunOptions(store=store))


def _failure(r: Any) -> tuple[str, str, str]:
    (f,) = r.failures
    return f.node, f.error_type, f.message


def test_valid_tables_run(tmp_path: Path) -> None:
    r = _run(flows.churn, {"n": 10}, tmp_path / "s")
    assert r.ok and r.outputs == {"out": 24.5}
    r = _run(flows.csv_flow, {"n": 10}, tmp_path / "s")
    assert r.ok and r.outputs == {"out": 24.5}


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        ("age_type", 'column "age": expected float, got string'),
        ("age_range", 'column "age": 200.0 at row 3 breaks Check(le=130.0)'),
        ("missing", 'missing column "churned" (bool); the file has: id, age, country'),
        ("null_id", 'column "id": null at row 2, but the column is not Optional'),
    ],
)
def test_a_returned_table_is_checked(tmp_path: Path, corrupt: str, message: str) -> None:
    r = _run(flows.churn, {"n": 10, "corrupt": corrupt}, tmp_path / "s")
    node, error_type, text = _failure(r)
    assert (node, error_type) == ("ingest", "typedflow.tables.SchemaError")
    assert text.startswith('output "out" (TypedFile[Parquet[Raw]], ') and text.endswith(message)
    assert r.status == "failed" and "train" not in {n.task for n in r.nodes if n.status == "succeeded"}


def test_a_received_table_is_checked(tmp_path: Path) -> None:
    # A producer without a schema: the consumer's check on receipt stops it before the task runs.
    r = _run(flows.untyped_source, {"n": 10, "corrupt": "age_type"}, tmp_path / "s")
    node, error_type, text = _failure(r)
    assert (node, error_type) == ("train", "typedflow.tables.SchemaError")
    assert text.startswith('input "data" (TypedFile[Parquet[Features]], ')
    assert text.endswith('column "age": expected float, got string')
    # Features declares no range: what Raw's Check forbids is fine for train.
    assert _run(flows.untyped_source, {"n": 10, "corrupt": "age_range"}, tmp_path / "s").ok


def test_a_received_csv_header_is_checked_and_its_rows_as_read(tmp_path: Path) -> None:
    r = _run(flows.csv_flow, {"n": 10, "corrupt": "header"}, tmp_path / "s")
    node, error_type, text = _failure(r)
    assert (node, error_type) == ("mean_age", "typedflow.tables.SchemaError")
    assert text.startswith('input "data"') and 'missing column "age" (float); the file has: id, years, churned' in text
    r = _run(flows.csv_flow, {"n": 10, "corrupt": "row"}, tmp_path / "s")
    node, error_type, text = _failure(r)
    assert node == "mean_age" and error_type == "typedflow.tables.SchemaError"  # raised by read_table
    assert text.endswith("column \"age\": expected float, got 'thirty' at row 4")


def test_lineage_records_the_schema_of_each_table(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert _run(flows.churn, {"n": 10}, store).ok
    entries = list(iter_records(store / "lineage" / "log.jsonl"))
    by_task = {rec.task: rec for rec, _ in entries if rec.kind == "task"}
    out = by_task["ingest"].outputs[0]
    assert out.schema_digest == schema_digest(schema_of(flows.Raw))
    assert out.columns == (("id", "int"), ("age", "float"), ("country", "str | None"), ("churned", "bool"))
    (inp,) = by_task["train"].inputs
    assert inp.schema_digest == schema_digest(schema_of(flows.Features)) and inp.sha256 == out.sha256
    assert by_task["ingest"].inputs[0].schema_digest is None  # not a table
    # The fast encoding of local runs gives the canonical bytes of the record.
    lines = (store / "lineage" / "log.jsonl").read_bytes().splitlines()
    for line in lines:
        assert record_line(record_from_bytes(line)) == line
    assert any(b'"schema_digest"' in x for x in lines)


def test_openlineage_schema_facet(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    store = tmp_path / "s"
    assert _run(flows.churn, {"n": 10}, store).ok
    events = to_openlineage(iter_records(store / "lineage" / "log.jsonl"))
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "openlineage"
    registry: Registry[Any] = Registry().with_resources(
        (json.loads(p.read_text())["$id"], Resource.from_contents(json.loads(p.read_text())))
        for p in fixtures.rglob("*.json")
    )
    facets = []
    for e in events:
        Draft202012Validator(
            {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json"}, registry=registry
        ).validate(e)
        for ds in e["inputs"] + e["outputs"]:
            if "schema" in ds["facets"]:
                facet = ds["facets"]["schema"]
                Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=registry).validate(facet)
                facets.append(facet)
    assert facets, "no schema facet"
    produced = next(f for f in facets if len(f["fields"]) == 4)
    assert produced["fields"] == [
        {"name": "id", "type": "int", "ordinal_position": 1},
        {"name": "age", "type": "float", "ordinal_position": 2},
        {"name": "country", "type": "str | None", "ordinal_position": 3},
        {"name": "churned", "type": "bool", "ordinal_position": 4},
    ]
    assert produced["typedflowSchemaDigest"] == schema_digest(schema_of(flows.Raw))


def test_vertex_artifacts_carry_the_schema(tmp_path: Path) -> None:
    pytest.importorskip("kfp")
    from typedflow.backends.vertex import BACKEND
    from typedflow.backends.vertex.entrypoint import write_outputs
    from typedflow.backends.vertex.typemap import type_from_description

    spec = json.loads(BACKEND.compile(flows.churn.ir, {"output": str(tmp_path / "spec.json")}))
    comp = next(c for name, c in spec["components"].items() if "ingest" in name)
    art = comp["outputDefinitions"]["artifacts"]["out"]
    assert art["artifactType"]["schemaTitle"] == "system.Dataset"
    assert type_from_description(art["description"]).schema == schema_of(flows.Raw)  # type: ignore[union-attr]

    template = flows.churn.ir.task("ingest")
    src = tmp_path / "t.parquet"
    src.write_bytes(b"x")
    ei = {
        "outputs": {
            "outputFile": str(tmp_path / "out" / "executor_output.json"),
            "artifacts": {"out": {"artifacts": [{"name": "out", "uri": str(tmp_path / "art" / "out")}]}},
        }
    }
    written = write_outputs(ei, {"out": {"uri": str(src), "sha256": "ab", "format": "f"}}, template)
    meta = written["artifacts"]["out"]["artifacts"][0]["metadata"]
    assert meta["schema"]["digest"] == schema_digest(schema_of(flows.Raw))
    assert meta["schema"]["columns"][0] == {
        "name": "id",
        "type": "int",
        "checks": [{"ge": None, "gt": None, "isin": None, "le": None, "lt": None, "unique": True}],
    }
    assert meta["schema"]["columns"][2] == {"name": "country", "type": "str | None"}


def test_process_isolation_checks_in_the_worker(tmp_path: Path) -> None:
    r = run_workflow(
        flows.churn, {"n": 10, "corrupt": "missing"}, RunOptions(store=tmp_path / "s", isolation="process")
    )
    node, error_type, text = _failure(r)
    assert (node, error_type) == ("ingest", "typedflow.tables.SchemaError") and 'missing column "churned"' in text
    assert run_workflow(flows.churn, {"n": 10}, RunOptions(store=tmp_path / "s", isolation="process")).outputs == {
        "out": 24.5
    }


@pytest.mark.parametrize(
    ("task", "message"), [(flows.shards, 'missing column "churned"'), (flows.shard_dir, "null at row 2")]
)
def test_tables_in_lists_and_directories_are_checked(tmp_path: Path, task: Any, message: str) -> None:
    from typedflow.runtime.execute import TaskError, execute
    from typedflow.runtime.store import LocalStore

    store = LocalStore(tmp_path / "s")
    ok = execute(task.template, {"n": 3, "corrupt_at": -1}, store=store, use_cache=False)
    assert ok.status == "succeeded"
    with pytest.raises(TaskError) as err:
        execute(task.template, {"n": 3, "corrupt_at": 1}, store=store, use_cache=False)
    assert err.value.error_type == "typedflow.tables.SchemaError" and message in err.value.message
    if task is flows.shard_dir:
        assert "part-1.parquet: " in err.value.message
