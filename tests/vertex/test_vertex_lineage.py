"""``deploy --target vertex --lineage-key gcpkms:… --lineage-anchor gs://…``: the options are checked at the CLI,
the submitted PipelineJob (aiplatform's real REST transport to a loopback endpoint) carries them in each task
container's environment, ``--print-iam-policy`` grants signing on the key and create-only on the anchor, and the
same spec run under kfp.local signs every record through Cloud KMS (the SDK's client, a local endpoint with a
real key) and anchors each checkpoint in Cloud Storage (google-cloud-storage against fake-gcs-server), which
``typedflow lineage pull`` then verifies with the public key alone."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vertex_flows as flows
from cryptography.hazmat.primitives import serialization
from test_vertex_submit import FakeVertex, vertex  # noqa: F401  (the loopback Vertex endpoint and its fixture)
from typedflow.backends.vertex.lineage import LineageOptions

from tests.support.gcpkms import CloudKms
from tests.support.gcs import FakeGcs

KEY = "projects/audit-42/locations/europe-west4/keyRings/lineage/cryptoKeys/pipelines/cryptoKeyVersions/3"
HERE = Path(__file__).parent
FLOWS = str(Path(flows.__file__))
COMMON = [
    "--target",
    "vertex",
    "--project",
    "p",
    "--region",
    "europe-west4",
    "--pipeline-root",
    "gs://b/r",
    "--no-bundle",
    "--image",
    "python:3.11",
]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_the_submitted_job_carries_the_key_and_the_anchor_in_each_task_container(
    vertex: list[tuple[str, bytes]],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    from typedflow.cli import main

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    lineage = ["--lineage-key", f"gcpkms:{KEY}", "--lineage-anchor", "gs://worm-anchor/audit/"]
    assert main(["deploy", f"{FLOWS}:chain", *COMMON, "--input", "x=4", *lineage]) == 0
    assert (
        "typedflow deploy: note: the task images must have google-cloud-kms, google-crc32c, google-cloud-storage"
        in (capsys.readouterr().err)
    )
    ((_, raw),) = vertex
    executors = json.loads(raw)["pipelineSpec"]["deploymentSpec"]["executors"]
    tasks = {name: e["container"] for name, e in executors.items() if "--task" in e["container"]["args"]}
    others = {name: e["container"] for name, e in executors.items() if name not in tasks}
    assert len(tasks) == 3 and others, sorted(executors)
    for container in tasks.values():
        env = _env(container)
        assert env["TYPEDFLOW_LINEAGE_KEY"] == f"gcpkms:{KEY}"
        assert env["TYPEDFLOW_LINEAGE_ANCHOR"] == "gs://worm-anchor/audit"
    for container in others.values():  # the outputs step writes no record
        assert "TYPEDFLOW_LINEAGE_KEY" not in _env(container)
    # without the options nothing is added
    assert main(["deploy", f"{FLOWS}:chain", *COMMON, "--input", "x=4"]) == 0
    plain = json.loads(vertex[1][1])["pipelineSpec"]["deploymentSpec"]["executors"]
    assert all("TYPEDFLOW_LINEAGE_KEY" not in _env(e["container"]) for e in plain.values())
    assert "note: the task images must have" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "wanted"),
    [
        (["--lineage-key", "awskms:alias/lineage"], "awskms: keys are for --target stepfunctions"),
        (["--lineage-key", "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"], "expected gcpkms:"),
        (
            ["--lineage-key", "gcpkms:projects/audit-42/locations/europe-west4/keyRings/lineage/cryptoKeys/pipelines"],
            "names a key, not a key version",
        ),
        (["--lineage-key", "gcpkms:projects/audit-42/locations/eu/keyRings/r/cryptoKeys/k/cryptoKeyVersions/x"], "N a"),
        (["--lineage-key", "gcpkms:projects/a b/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"], "expected"),
        (["--lineage-anchor", "s3://worm/audit"], "expected gs://bucket[/prefix]"),
        (["--lineage-anchor", "gs://Bad_Bucket/x"], "is not a bucket name"),
        (["--lineage-anchor", "gs://worm/a//b"], "empty, '.' or '..' segment"),
    ],
)
def test_a_malformed_option_exits_2_before_anything_is_sent(
    option: list[str],
    wanted: str,
    vertex: list[tuple[str, bytes]],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from typedflow.cli import main

    assert main(["deploy", f"{FLOWS}:chain", *COMMON, "--input", "x=4", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"typedflow: bad input: {option[0]} ") and wanted in err, err
    assert "Traceback" not in err
    assert vertex == []
    # --print-iam-policy checks them the same way
    assert main(["deploy", f"{FLOWS}:chain", *COMMON, "--print-iam-policy", *option]) == 2
    assert wanted in capsys.readouterr().err


def test_the_iam_policy_grants_signing_on_the_key_and_create_only_on_the_anchor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from typedflow.cli import main

    account = "pipelines@audit-42.iam.gserviceaccount.com"
    argv = ["deploy", f"{FLOWS}:chain", "--target", "vertex", "--project", "audit-42", "--pipeline-root"]
    argv += ["gs://pipelines-bucket/root", "--image", "python:3.11", "--no-bundle", "--print-iam-policy"]
    argv += ["--service-account", account]
    assert main([*argv, "--lineage-key", f"gcpkms:{KEY}", "--lineage-anchor", "gs://worm-anchor/audit"]) == 0
    policy = json.loads(capsys.readouterr().out)
    member = f"serviceAccount:{account}"
    crypto_key = KEY.rsplit("/cryptoKeyVersions/", 1)[0]
    assert policy[-3:] == [
        {"role": "roles/cloudkms.signer", "resource": crypto_key, "member": member},
        {"role": "roles/cloudkms.publicKeyViewer", "resource": crypto_key, "member": member},
        {
            "role": "roles/storage.objectCreator",
            "resource": "projects/_/buckets/worm-anchor",
            "member": member,
            "condition": {
                "title": "typedflow lineage anchor",
                "expression": 'resource.name.startsWith("projects/_/buckets/worm-anchor/objects/audit/lineage/")',
            },
        },
    ]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)
    assert not any("cloudkms" in b["role"] or b["role"] == "roles/storage.objectCreator" for b in plain)


# -- a run under kfp.local ---------------------------------------------------------------------------


@pytest.fixture
def kms() -> Iterator[CloudKms]:
    endpoint = CloudKms()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.fixture
def gcs() -> Iterator[FakeGcs]:
    server = FakeGcs()
    try:
        yield server
    finally:
        server.close()


def test_containers_run_under_kfp_local_sign_with_the_key_and_anchor_in_gcs(
    kms: CloudKms, gcs: FakeGcs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from kfp_harness import run_spec
    from typedflow.backends.vertex.deploy import build_job

    from typedflow.cli import main
    from typedflow.lineage.verify_bundle import PublicKey

    private = kms.add_key(KEY, "EC_SIGN_P256_SHA256")
    pub = tmp_path / "kms.pub"  # the auditor's copy, from the private key, not from the endpoint
    pub.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    gcs.client().create_bucket("worm-anchor")
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    build_job(
        flows.chain.ir,
        project="p",
        region="europe-west4",
        pipeline_root="gs://b/r",
        parameter_values={"x": 1},
        credentials=AnonymousCredentials(),
        spec_dir=spec_dir,
        lineage=LineageOptions(KEY, "gs://worm-anchor/audit"),
    )
    (spec,) = spec_dir.glob("*.json")
    # the containers get the key and the anchor from the spec alone; the test process signs nothing
    monkeypatch.delenv("TYPEDFLOW_LINEAGE_KEY", raising=False)
    monkeypatch.delenv("TYPEDFLOW_LINEAGE_ANCHOR", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE / "kms_route"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TYPEDFLOW_TEST_GCP_KMS_ENDPOINT", kms.url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    outs, _ = run_spec(spec, {"x": 1}, tmp_path / "kfp")
    assert outs == {"out": 8}
    signs = [path.partition("?")[0] for method, path in kms.requests if method == "POST"]
    assert signs == [f"/v1/{KEY}:asymmetricSign"] * 3
    kms.close()  # from here on only the public key counts

    (lineage,) = {p.parent.parent for p in (tmp_path / "kfp").rglob("lineage/*/*.json")}
    (run_dir,) = list(lineage.iterdir())
    records = sorted(run_dir.glob("*.json"))
    checkpoints = sorted((run_dir / "checkpoints").glob("*.json"))
    assert len(records) == 3 and [c.name for c in checkpoints] == [r.name for r in records]
    key_id = PublicKey(pub.read_bytes()).key_id
    for c in checkpoints:
        cp = json.loads(c.read_bytes())
        assert (cp["alg"], cp["key_id"]) == ("ecdsa-p256-sha256", key_id)
    anchored = sorted(b.name.rsplit("/", 1)[-1] for b in gcs.client().list_blobs("worm-anchor", prefix="audit/"))
    assert anchored == [r.name for r in records]

    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    argv = ["lineage", "pull", run_dir.name, "--target", "vertex", "--from", str(lineage.parent)]
    assert main([*argv, "--public-key", str(pub), "--anchor", "gs://worm-anchor/audit"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert f"3 appended, 0 already present, 0 rejected, 0 anchor problem(s); 3 verified with key {key_id[:16]}" in out


# -- what the task images need ------------------------------------------------------------------------


def test_the_deploy_notes_which_packages_task_images_need_for_signing() -> None:
    from typedflow.backends.vertex.lineage import image_note

    from typedflow import Environment, task, workflow
    from typedflow.shipping import plan
    from typedflow.shipping.cli import Shipment

    @task(environment=Environment(packages=["google-cloud-kms>=3", "google_crc32c", "pandas"]))
    def signs(x: int) -> int:
        return x

    @task
    def bare(x: int) -> int:
        return x

    @workflow(environment=Environment(packages=["google-cloud-kms>=3", "google-crc32c"]))
    def ready(x: int) -> int:
        return signs(x)

    @workflow
    def lacking(x: int) -> int:
        return bare(signs(x))

    def shipment(wf: Any) -> Shipment:
        return Shipment(None, plan.make(wf.ir, code=None, code_root=None, registry=None), None)

    key_only, both = LineageOptions(KEY, None), LineageOptions(KEY, "gs://worm/audit")
    assert image_note(key_only, shipment(ready), None) == ""
    assert image_note(LineageOptions(), shipment(lacking), None) == ""
    assert image_note(key_only, shipment(lacking), None) == (
        "add google-cloud-kms, google-crc32c to the tasks' environment packages: task containers sign and anchor "
        "lineage with them"
    )
    assert image_note(both, shipment(ready), None).startswith("add google-cloud-storage to the tasks'")
    assert image_note(both, shipment(ready), "python:3.11") == (
        "the task images must have google-cloud-kms, google-crc32c, google-cloud-storage to sign and anchor lineage "
        "records"
    )
