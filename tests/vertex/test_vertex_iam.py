"""``typedflow deploy --target vertex --print-iam-policy``: the bindings the pipeline's service account
needs, deterministic, with secret access on exactly the ``gcp-sm:`` secrets the tasks declare."""

from __future__ import annotations

import json
from pathlib import Path

import iam_flows
import pytest
from typedflow.backends.vertex.iam import repositories

from typedflow.cli import main

FLOWS = str(Path(iam_flows.__file__))
SA = "serviceAccount:runner@my-project.iam.gserviceaccount.com"


def _print(capsys: pytest.CaptureFixture[str], wf: str, *extra: str) -> tuple[int, str, str]:
    code = main(
        [
            "deploy",
            f"{FLOWS}:{wf}",
            "--target",
            "vertex",
            "--project",
            "my-project",
            "--no-bundle",
            "--print-iam-policy",
            *extra,
        ]
    )
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_bindings_name_each_resource_the_pipeline_uses(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--pipeline-root", "gs://ml-bucket/pipelines/", "--service-account", SA.partition(":")[2])
    code, out, err = _print(capsys, "guarded", *args)
    assert code == 0, err
    assert json.loads(out) == [
        {"role": "roles/aiplatform.user", "resource": "projects/my-project", "member": SA},
        {
            "role": "roles/storage.objectAdmin",
            "resource": "projects/_/buckets/ml-bucket",
            "member": SA,
            "condition": {
                "title": "typedflow pipeline root",
                "expression": 'resource.type == "storage.googleapis.com/Bucket" || '
                'resource.name.startsWith("projects/_/buckets/ml-bucket/objects/pipelines/")',
            },
        },
        {
            "role": "roles/artifactregistry.reader",
            "resource": "projects/img-proj/locations/europe-west4/repositories/ml",
            "member": SA,
        },
        {
            "role": "roles/artifactregistry.reader",
            "resource": "projects/legacy-proj/locations/europe/repositories/eu.gcr.io",
            "member": SA,
        },
        # exactly the declared gcp-sm secrets: two versions of one secret are one binding; env: and aws-sm: none
        {"role": "roles/secretmanager.secretAccessor", "resource": "projects/hub-proj/secrets/hf-token", "member": SA},
        {
            "role": "roles/secretmanager.secretAccessor",
            "resource": "projects/my-project/secrets/db-password",
            "member": SA,
        },
    ]
    assert "note" not in err
    assert _print(capsys, "guarded", *args)[1] == out  # deterministic, byte for byte


def test_without_secrets_folder_or_service_account(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _print(capsys, "plain", "--pipeline-root", "gs://ml-bucket", "--image", "python:3.11")
    assert code == 0, err
    member = "serviceAccount:PROJECT_NUMBER-compute@developer.gserviceaccount.com"
    assert json.loads(out) == [
        {"role": "roles/aiplatform.user", "resource": "projects/my-project", "member": member},
        {"role": "roles/storage.objectAdmin", "resource": "projects/_/buckets/ml-bucket", "member": member},
    ]  # Docker Hub's image needs no binding
    assert "Compute Engine default service account" in err


def test_the_image_given_on_the_command_line_counts(capsys: pytest.CaptureFixture[str]) -> None:
    image = "europe-west4-docker.pkg.dev/my-project/pipes/base:1"
    code, out, err = _print(capsys, "plain", "--pipeline-root", "gs://ml-bucket/r", "--image", image)
    assert code == 0, err
    readers = [b["resource"] for b in json.loads(out) if b["role"] == "roles/artifactregistry.reader"]
    assert readers == ["projects/my-project/locations/europe-west4/repositories/pipes"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "--print-iam-policy needs --pipeline-root"),
        (("--pipeline-root", "/tmp/root"), "expected gs://bucket/folder"),
        (("--pipeline-root", "gs://b/r", "--service-account", "runner"), "expected the account's email"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    extra: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _print(capsys, "plain", *extra)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_repositories_of_images() -> None:
    assert repositories(
        [
            "us-docker.pkg.dev/p1/repo/img@sha256:" + "0" * 64,
            "gcr.io/p2/img:1",
            "asia.gcr.io/p3/a/b:2",
            "python:3.11-slim",
            "docker.io/library/python:3.11",
            "us-docker.pkg.dev/p1/repo/other:3",
        ]
    ) == [
        "projects/p1/locations/us/repositories/repo",
        "projects/p2/locations/us/repositories/gcr.io",
        "projects/p3/locations/asia/repositories/asia.gcr.io",
    ]
