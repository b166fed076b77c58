"""PROV-JSON export validates against the PROV-JSON schema the prov package ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from typedflow.lineage.export.prov import to_prov_document, to_prov_json
from typedflow.lineage.query import iter_records

prov = pytest.importorskip("prov")
jsonschema = pytest.importorskip("jsonschema")

SCHEMA = Path(prov.__file__).parent / "tests" / "schemas" / "prov-json.schema.json"


@pytest.fixture(scope="module")
def validator() -> Any:
    if not SCHEMA.exists():
        pytest.skip("the installed prov wheel does not ship prov-json.schema.json")
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_prov_json_validates(three_step, validator) -> None:
    doc = json.loads(to_prov_json(list(iter_records(three_step.log))))
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, "\n".join(str(e) for e in errors)
    for key in ("entity", "activity", "agent", "used", "wasGeneratedBy", "wasAssociatedWith", "wasDerivedFrom"):
        assert doc.get(key), key


def test_prov_structure(three_step) -> None:
    records = list(iter_records(three_step.log))
    doc = json.loads(to_prov_json(records))
    activities = doc["activity"]
    tasks = [a for a in activities.values() if a.get("prov:type", {}).get("$") == "tf:TaskRun"]
    assert len(tasks) == 4
    train = next(a for a in tasks if a["tf:node"] == "train")
    rec, h = next((r, h) for r, h in records if r.node_id == "train")
    assert train["tf:recordHash"] == h and train["tf:codeDigest"] == rec.code_digest
    model_entity = next(e for e in doc["entity"].values() if e.get("tf:name") == "model")
    assert model_entity["prov:location"] == rec.outputs[0].uri
    # The model was derived from the features, which were derived from the raw file.
    derivations = list(doc["wasDerivedFrom"].values())
    assert len(derivations) >= 3
    agents = doc["agent"]
    assert any("user-" in k for k in agents) and any("typedflow-" in k for k in agents)
    assert doc["actedOnBehalfOf"]


def test_round_trips_through_prov(three_step) -> None:
    from prov.model import ProvDocument

    doc = to_prov_document(list(iter_records(three_step.log)))
    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    assert again == doc


def _int(value: Any) -> int:
    """A PROV-JSON integer: plain, or the typed literal ``{"$": "2", "type": "xsd:int"}`` prov writes."""
    if isinstance(value, dict):
        assert value["type"] == "xsd:int"
        return int(value["$"])
    return int(value)


def test_prov_of_a_signed_log_carries_its_checkpoints_and_key_id(
    make_record, keypair, other_keypair, validator, tmp_path, capsys
) -> None:
    """``lineage export --format prov-json``: a checkpoint entity per signed group, attributed to its key, named by
    every activity it covers; its signed line checks with the public key; unsigned records name none."""
    from typedflow.cli import main
    from typedflow.lineage import LineageLog
    from typedflow.lineage.signing import load_key_file
    from typedflow.lineage.verify_bundle import PublicKey, canonical, parse_checkpoint

    log = tmp_path / "log.jsonl"
    with LineageLog(log, flush_every=3, fsync=False, signer=load_key_file(keypair.key)) as lg:
        for i in range(7):
            lg.append(make_record(i))
    with LineageLog(log, fsync=False, signer=load_key_file(other_keypair.key)) as lg:  # after a key rotation
        lg.append(make_record(7))
    with LineageLog(log, fsync=False, signer=None) as lg:
        lg.append(make_record(8))
    out = tmp_path / "run.prov.json"
    assert main(["lineage", "--log", str(log), "export", "--all", "--format", "prov-json", "-o", str(out)]) == 0
    assert "PROV-JSON for 9 records" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, "\n".join(str(e) for e in errors)

    cps = {k: e for k, e in doc["entity"].items() if e.get("prov:type", {}).get("$") == "tf:SignedCheckpoint"}
    lines = log.with_name("log.jsonl.checkpoints").read_bytes().splitlines()
    assert len(cps) == len(lines) == 4  # records 0-2, 3-5, 6 (close) with one key, 7 with the other
    keys = {keypair.key_id: PublicKey(keypair.public), other_keypair.key_id: PublicKey(other_keypair.public)}
    attributed = {(r["prov:entity"], r["prov:agent"]) for r in doc["wasAttributedTo"].values()}
    for ident, entity in cps.items():
        signed_line = entity["tf:checkpoint"]
        assert signed_line.encode() in lines  # byte for byte the line in the log's checkpoints
        cp = parse_checkpoint(json.loads(signed_line))
        assert not isinstance(cp, str) and canonical(json.loads(signed_line)) == signed_line.encode()
        assert keys[entity["tf:keyId"]].verify(cp.alg, cp.signature, cp.message)
        assert (_int(entity["tf:seq"]), entity["tf:head"]) == (cp.seq, cp.head)
        assert (ident, f"tfagent:key-{cp.key_id}") in attributed
        assert doc["agent"][f"tfagent:key-{cp.key_id}"]["tf:keyId"] == cp.key_id
    tasks = {_int(a["tf:seq"]): a for a in doc["activity"].values() if a.get("prov:type", {}).get("$") == "tf:TaskRun"}
    assert sorted(tasks) == list(range(9))
    for seq, activity in tasks.items():
        if seq == 8:
            assert "tf:checkpoint" not in activity and "tf:keyId" not in activity
            continue
        ident = activity["tf:checkpoint"]["$"]
        assert activity["tf:checkpoint"]["type"] == "xsd:QName"  # a reference to the entity, not a string
        cp_entity = cps[ident]
        assert _int(cp_entity["tf:from"]) <= seq <= _int(cp_entity["tf:seq"])
        assert activity["tf:keyId"] == cp_entity["tf:keyId"] == (keypair if seq < 7 else other_keypair).key_id
    from prov.model import ProvDocument

    from typedflow.lineage.export.checkpoints import read_checkpoints

    signed = to_prov_document(list(iter_records(log)), read_checkpoints(log))
    assert ProvDocument.deserialize(content=signed.serialize(format="json"), format="json") == signed


def test_prov_without_checkpoints_is_unchanged(three_step) -> None:
    from typedflow.lineage.export.checkpoints import read_checkpoints

    records = list(iter_records(three_step.log))
    assert read_checkpoints(three_step.log) is None
    assert to_prov_json(records, None) == to_prov_json(records)
    assert "tfcp" not in json.loads(to_prov_json(records)).get("prefix", {})
