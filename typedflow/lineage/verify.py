"""Verify a lineage log or bundle: every line, the hash chain, the head it must end at, and the
anchors an auditor holds (a public key for signed checkpoints, a trusted head).

The checks themselves live in :mod:`typedflow.lineage.verify_bundle`, the standard-library script
shipped inside every bundle, so ``typedflow lineage verify`` and an auditor's copy of the script
reach the same verdict and name the same line. ``deep`` adds what only typedflow can check: that
every line is a well-typed :class:`~typedflow.lineage.record.LineageRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Final, TypeAlias

import attrs

from typedflow.lineage._chain import Head
from typedflow.lineage.record import GENESIS_HASH, record_from_dict
from typedflow.lineage.verify_bundle import MANIFEST as _MANIFEST
from typedflow.lineage.verify_bundle import RECORDS as _RECORDS
from typedflow.lineage.verify_bundle import Failure as CoreFailure
from typedflow.lineage.verify_bundle import Head as CoreHead
from typedflow.lineage.verify_bundle import (
    Keyring,
    PublicKey,
    is_bundle,
    iter_record_lines,
    parse_trusted_head,
    record_id_of,
)
from typedflow.lineage.verify_bundle import Result as CoreResult
from typedflow.lineage.verify_bundle import verify_bundle as core_verify_bundle
from typedflow.lineage.verify_bundle import verify_log as core_verify_log

__all__ = [
    "Failure",
    "Keyring",
    "PublicKey",
    "TrustedKeys",
    "VerifyResult",
    "verify_bundle",
    "verify_log",
    "verify_path",
]

TrustedKeys: TypeAlias = "PublicKey | bytes | Keyring | Iterable[PublicKey | bytes] | None"
"""One public key (or its PEM/DER bytes), or the keys of a rotation."""

MANIFEST: Final = _MANIFEST
RECORDS: Final = _RECORDS


@attrs.frozen
class Failure:
    """The first offending record and why: edited, deleted, reordered, inserted, truncated, ..."""

    reason: str
    line: int  # 1-based line in the records file; count + 1 for records missing at the end; 0: none
    seq: int | None
    record_id: str | None
    detail: str

    def describe(self) -> str:
        return CoreFailure(self.reason, self.line, self.seq, self.record_id, self.detail).describe()


@attrs.frozen
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    first_seq: int = 0
    failure: Failure | None = None
    warnings: tuple[str, ...] = ()
    anchor: str = ""  # what anchored the records ("" when nothing beyond themselves)

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} records, head {self.head_hash}" + (f"; {self.anchor}" if self.anchor else "")
        assert self.failure is not None
        return f"FAIL: {self.failure.describe()}"


def _result(r: CoreResult) -> VerifyResult:
    failure = Failure(*r.failure) if r.failure is not None else None
    return VerifyResult(r.ok, r.count, r.head_hash, r.first_seq, failure, r.warnings, r.anchor)


def _key(public_key: TrustedKeys) -> Keyring | None:
    if public_key is None or isinstance(public_key, Keyring):
        return public_key
    if isinstance(public_key, PublicKey | bytes):
        public_key = [public_key]
    return Keyring(k if isinstance(k, PublicKey) else PublicKey(k) for k in public_key)


def _trusted(trusted_head: str | None) -> str | None:
    return parse_trusted_head(trusted_head) if trusted_head is not None else None


def _typed(result: VerifyResult, lines: Iterable[bytes]) -> VerifyResult:
    """After the chain holds, the first line that is not a well-typed record fails."""
    if not result.ok:
        return result
    for index, line in enumerate(lines):
        try:
            record_from_dict(json.loads(line))
        except ValueError as exc:
            seq = result.first_seq + index
            failure = Failure("edited", index + 1, seq, record_id_of(line), f"not a valid record: {exc}")
            return attrs.evolve(result, ok=False, failure=failure)
    return result


def verify_log(
    path: str | Path,
    *,
    deep: bool = False,
    head: Head | None = None,
    public_key: TrustedKeys = None,
    trusted_head: str | None = None,
) -> VerifyResult:
    """Verify a log against its head file (or ``head``, e.g. one published elsewhere), its
    checkpoints and repairs, and the anchors given.

    The fast check hashes raw line bytes and reads ``seq``/``prev_hash`` without parsing the
    whole line: any changed byte breaks the chain at the next record or at the head. ``deep``
    also parses every line, re-encodes it canonically and type-checks the record.
    """
    p = str(path)
    core_head = CoreHead(head.seq, head.hash, head.count) if head is not None else None
    result = _result(
        core_verify_log(p, head=core_head, canonical_check=deep, key=_key(public_key), trusted=_trusted(trusted_head))
    )
    return _typed(result, iter_record_lines(p)) if deep else result


def verify_bundle(
    path: str | Path,
    *,
    deep: bool = True,
    public_key: TrustedKeys = None,
    trusted_head: str | None = None,
) -> VerifyResult:
    """Verify an exported bundle (directory or .zip) against its manifest and the anchors given."""
    p = str(path)
    result = _result(core_verify_bundle(p, key=_key(public_key), trusted=_trusted(trusted_head)))
    return _typed(result, iter_record_lines(p)) if deep else result


def verify_path(
    path: str | Path,
    *,
    deep: bool = False,
    public_key: TrustedKeys = None,
    trusted_head: str | None = None,
) -> VerifyResult:
    """Verify a bundle directory, a bundle .zip, or a log file."""
    p = str(path)
    if is_bundle(p):
        return verify_bundle(p, public_key=public_key, trusted_head=trusted_head)
    if not Path(p).is_file():
        return VerifyResult(False, 0, GENESIS_HASH, 0, Failure("missing", 0, None, None, f"{p} is not a file"))
    return verify_log(p, deep=deep, public_key=public_key, trusted_head=trusted_head)
