"""OpenLineage export: every event and every facet validates against the official schemas offline."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from typedflow.lineage.export.openlineage import (
    RUN_EVENT_SCHEMA_URL,
    dataset_name,
    to_openlineage,
    write_openlineage,
)
from typedflow.lineage.query import iter_records

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openlineage"


@pytest.fixture(scope="module")
def registry() -> Registry[Any]:
    resources = []
    for path in sorted(FIXTURES.rglob("*.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def _validator(registry: Registry[Any], url: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": url}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(event["run"].get("facets", {}).values()) + list(event["job"].get("facets", {}).values())
    for ds in event.get("inputs", []) + event.get("outputs", []):
        out += list(ds.get("facets", {}).values())
    return out


def test_fixture_schemas_are_complete() -> None:
    assert (FIXTURES / "LICENSE").exists()
    for path in FIXTURES.rglob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_events_validate_against_openlineage_schema(three_step, registry) -> None:
    records = list(iter_records(three_step.log))
    events = to_openlineage(records)
    # run_start + run_end of the workflow, START + terminal for each of the 4 task runs.
    assert len(events) == 2 + 2 * 4
    event_validator = _validator(registry, "https://openlineage.io/spec/2-0-2/OpenLineage.json")
    run_event_validator = _validator(registry, RUN_EVENT_SCHEMA_URL)
    schemas_used = set()
    for event in events:
        event_validator.validate(event)
        run_event_validator.validate(event)
        for facet in _facets(event):
            schemas_used.add(facet["_schemaURL"])
            _validator(registry, facet["_schemaURL"]).validate(facet)
    assert any("TypedflowLineageRunFacet" in s for s in schemas_used)
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}


def test_task_events_carry_chain_and_datasets(three_step) -> None:
    records = list(iter_records(three_step.log))
    events = to_openlineage(records)
    train = [e for e in events if e["job"]["name"] == "churn.train"]
    assert [e["eventType"] for e in train] == ["START", "COMPLETE"]
    start, complete = train
    assert start["run"]["runId"] == complete["run"]["runId"]
    rec, h = next((r, h) for r, h in records if r.node_id == "train")
    facet = complete["run"]["facets"]["typedflow_lineage"]
    assert facet["seq"] == rec.seq and facet["recordHash"] == h and facet["prevHash"] == rec.prev_hash
    assert facet["codeDigest"] == rec.code_digest and facet["logOrigin"] == rec.log_origin
    assert complete["job"]["namespace"] == "typedflow"
    assert [d["name"] for d in complete["inputs"]] == [str(three_step.features)]
    assert [d["name"] for d in complete["outputs"]] == [str(three_step.model)]
    assert complete["outputs"][0]["facets"]["version"]["datasetVersion"] == rec.outputs[0].sha256
    assert start["outputs"] == []
    parent = complete["run"]["facets"]["parent"]["run"]["runId"]
    workflow = [e for e in events if e["job"]["name"] == "churn"]
    assert {e["run"]["runId"] for e in workflow} == {parent}


def test_failed_and_skipped_tasks(make_record, registry, tmp_path, write_log) -> None:
    log = tmp_path / "log.jsonl"
    write_log(log, [make_record(0, status="failed", error="ValueError: bad"), make_record(1, status="skipped")])
    events = to_openlineage(list(iter_records(log)))
    assert sorted(e["eventType"] for e in events) == ["ABORT", "FAIL", "START", "START"]
    failed = next(e for e in events if e["eventType"] == "FAIL")
    assert failed["run"]["facets"]["errorMessage"]["message"] == "ValueError: bad"
    validator = _validator(registry, RUN_EVENT_SCHEMA_URL)
    for event in events:
        validator.validate(event)
        for facet in _facets(event):
            _validator(registry, facet["_schemaURL"]).validate(facet)


def test_json_array_and_jsonl_output(three_step) -> None:
    events = to_openlineage(list(iter_records(three_step.log)))
    buf = io.StringIO()
    assert write_openlineage(events, buf) == len(events)
    assert json.loads(buf.getvalue()) == events
    buf = io.StringIO()
    write_openlineage(events, buf, jsonl=True)
    assert [json.loads(line) for line in buf.getvalue().splitlines()] == events


def test_dataset_naming() -> None:
    assert dataset_name("s3://bucket/a/b.csv") == ("s3://bucket", "a/b.csv")
    assert dataset_name("gs://bucket/x") == ("gs://bucket", "x")
    assert dataset_name("file:///tmp/a%20b") == ("file", "/tmp/a b")
    assert dataset_name("/tmp/x") == ("file", "/tmp/x")


def test_events_of_a_signed_log_carry_their_checkpoint(make_record, keypair, registry, tmp_path, capsys) -> None:
    import argparse

    from typedflow.lineage import LineageLog
    from typedflow.lineage.cli import add_subparser
    from typedflow.lineage.signing import load_key_file
    from typedflow.lineage.verify_bundle import PublicKey, parse_checkpoint

    log = tmp_path / "log.jsonl"
    with LineageLog(log, flush_every=3, fsync=False, signer=load_key_file(keypair.key)) as lg:
        for i in range(7):
            lg.append(make_record(i))
    parser = argparse.ArgumentParser(prog="typedflow")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lineage", "--log", str(log), "export", "--all", "--format", "openlineage", "-o", "-"])
    assert args.func(args) == 0
    events = json.loads(capsys.readouterr().out)
    key = PublicKey(keypair.public)
    validator = _validator(registry, "https://openlineage.io/spec/2-0-2/OpenLineage.json")
    for event in events:
        validator.validate(event)
        facet = event["run"]["facets"]["typedflow_lineage"]
        _validator(registry, facet["_schemaURL"]).validate(facet)
        assert facet["keyId"] == keypair.key_id
        cp = parse_checkpoint(facet["checkpoint"])
        assert not isinstance(cp, str) and cp.start <= facet["seq"] <= cp.seq
        assert key.verify(cp.alg, cp.signature, cp.message)
    assert {e["run"]["facets"]["typedflow_lineage"]["checkpoint"]["seq"] for e in events} == {2, 5, 6}
