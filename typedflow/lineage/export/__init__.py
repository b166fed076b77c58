"""Exports of lineage: auditor bundles, OpenLineage RunEvents and W3C PROV-JSON."""

from typedflow.lineage.export.bundle import export_bundle
from typedflow.lineage.export.openlineage import iter_openlineage, to_openlineage, write_openlineage
from typedflow.lineage.export.prov import to_prov_document, to_prov_json

__all__ = [
    "export_bundle",
    "iter_openlineage",
    "to_openlineage",
    "to_prov_document",
    "to_prov_json",
    "write_openlineage",
]
