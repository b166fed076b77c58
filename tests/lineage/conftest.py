"""Fixtures for lineage tests: record factories, small logs and a 3-step synthetic lineage."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import typedflow
from typedflow.ir.canonical import digest
from typedflow.lineage import LineageLog, LineageRecord, ValueRef, new_record
from typedflow.lineage.hashing import file_uri, sha256_file

REPO_ROOT = Path(typedflow.__file__).resolve().parent.parent
IR = "sha256:" + "a" * 64
CODE = "sha256:" + "c" * 64

MakeRecord = Callable[..., LineageRecord]


@pytest.fixture(scope="session")
def make_record() -> MakeRecord:
    """Factory for task records with sensible defaults; keyword arguments override."""

    def make(i: int = 0, **over: Any) -> LineageRecord:
        fields: dict[str, Any] = {
            "run_id": "0" * 31 + "1",
            "workflow": "wf",
            "ir_digest": IR,
            "target": "local",
            "executor": "thread",
            "status": "succeeded",
            "started_at": "2026-11-23T18:10:22.000000Z",
            "ended_at": "2026-11-23T18:10:23.500000Z",
            "node_id": f"n{i}",
            "task": "pkg.mod.fn",
            "code_digest": CODE,
            "inputs": (ValueRef("x", digest({"x": i})),),
            "outputs": (ValueRef("y", digest({"y": i})),),
            "parameters": {"i": i},
        }
        fields.update(over)
        kind = fields.pop("kind", "task")
        return new_record(kind, **fields)

    return make


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def python() -> str:
    return sys.executable


def _write_log(path: Path, records: list[LineageRecord], flush_every: int = 100) -> None:
    with LineageLog(path, flush_every=flush_every, fsync=False) as log:
        for rec in records:
            log.append(rec)


@pytest.fixture
def write_log() -> Callable[..., None]:
    return _write_log


@pytest.fixture
def small_log(tmp_path: Path, make_record: MakeRecord) -> Path:
    """A log of 20 task records."""
    path = tmp_path / "lineage" / "log.jsonl"
    _write_log(path, [make_record(i) for i in range(20)], flush_every=7)
    return path


@attrs.frozen
class ThreeStep:
    log: Path
    raw: Path
    features: Path
    model: Path
    run_id: str
    other_run_id: str


@pytest.fixture
def three_step(tmp_path: Path) -> ThreeStep:
    """ingest -> featurize -> train over real files, plus an unrelated run in between."""
    data = tmp_path / "data"
    data.mkdir()
    raw = data / "raw.csv"
    features = data / "features.parquet"
    model = data / "model.pkl"
    raw.write_text("a,b\n1,2\n")
    features.write_bytes(b"features-v1")
    model.write_bytes(b"model-v1")

    def fref(name: str, p: Path) -> ValueRef:
        sha = sha256_file(p)
        return ValueRef(name, digest({"type": "File", "sha256": sha}), file_uri(p), sha)

    url = ValueRef("url", digest("https://example.invalid/raw.csv"))
    lr = ValueRef("lr", digest(0.1))
    run_id, other = "1" * 32, "2" * 32
    common = {"workflow": "churn", "ir_digest": IR, "target": "local", "executor": "process"}
    t = "2026-11-23T18:10:2{}.000000Z".format
    recs = [
        new_record("run_start", run_id=run_id, status="started", started_at=t(0), **common),
        new_record(
            "task",
            run_id=run_id,
            status="succeeded",
            started_at=t(1),
            ended_at=t(2),
            node_id="ingest",
            task="churn.ingest",
            code_digest="sha256:" + "1" * 64,
            inputs=(url,),
            outputs=(fref("raw", raw),),
            **common,
        ),
        new_record(
            "task",
            run_id=other,
            status="succeeded",
            started_at=t(1),
            ended_at=t(2),
            node_id="noise",
            task="other.noise",
            code_digest="sha256:" + "9" * 64,
            **{**common, "workflow": "other"},
        ),
        new_record(
            "task",
            run_id=run_id,
            status="succeeded",
            started_at=t(2),
            ended_at=t(3),
            node_id="featurize",
            task="churn.featurize",
            code_digest="sha256:" + "2" * 64,
            inputs=(fref("raw", raw),),
            outputs=(fref("features", features),),
            **common,
        ),
        new_record(
            "task",
            run_id=run_id,
            status="succeeded",
            started_at=t(3),
            ended_at=t(5),
            node_id="train",
            task="churn.train",
            code_digest="sha256:" + "3" * 64,
            inputs=(fref("features", features), lr),
            outputs=(fref("model", model),),
            parameters={"lr": 0.1, "epochs": 3},
            **common,
        ),
        new_record(
            "run_end",
            run_id=run_id,
            status="succeeded",
            started_at=t(0),
            ended_at=t(6),
            **common,
        ),
    ]
    log = tmp_path / "home" / "lineage" / "log.jsonl"
    _write_log(log, recs)
    return ThreeStep(log, raw, features, model, run_id, other)


@pytest.fixture(autouse=True)
def _repair_warnings_are_visible() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        yield


@pytest.fixture(autouse=True)
def _no_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their signer; a key configured in the environment must not sign their logs."""
    monkeypatch.delenv("TYPEDFLOW_LINEAGE_KEY", raising=False)


@attrs.frozen
class KeyPair:
    key: Path
    pub: Path
    key_id: str

    @property
    def public(self) -> bytes:
        return self.pub.read_bytes()


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    from typedflow.lineage.signing import keygen

    key, pub, key_id = keygen(tmp_path_factory.mktemp("keys"))
    return KeyPair(key, pub, key_id)


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    from typedflow.lineage.signing import keygen

    key, pub, key_id = keygen(tmp_path_factory.mktemp("other-keys"))
    return KeyPair(key, pub, key_id)
