"""Immutable, verifiable lineage: hash-chained records of what ran, on what, producing what."""

from typedflow.lineage._chain import Head, LineageIntegrityError
from typedflow.lineage.log import LineageLinkError, LineageLog, LineageRepairWarning, TornFragment
from typedflow.lineage.record import (
    LineageRecord,
    ValueRef,
    identity,
    new_record,
    new_record_id,
    now_rfc3339,
    origin_hash,
    record_hash,
    safe_parameters,
)
from typedflow.lineage.verify import Failure, VerifyResult, verify_bundle, verify_log, verify_path

__all__ = [
    "Failure",
    "Head",
    "LineageIntegrityError",
    "LineageLinkError",
    "LineageLog",
    "LineageRecord",
    "LineageRepairWarning",
    "TornFragment",
    "ValueRef",
    "VerifyResult",
    "identity",
    "new_record",
    "new_record_id",
    "now_rfc3339",
    "origin_hash",
    "record_hash",
    "safe_parameters",
    "verify_bundle",
    "verify_log",
    "verify_path",
]
