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
