"""Workflows whose tasks declare secrets and images, for ``deploy --target vertex --print-iam-policy``."""

from __future__ import annotations

import os

from typedflow import task, workflow


@task(secrets=["HF_TOKEN=gcp-sm:projects/hub-proj/secrets/hf-token/versions/3", "PLAIN=env:PLAIN_TOKEN"])
def hub(repo: str) -> str:
    return f"{repo}:{len(os.environ['HF_TOKEN'])}"


@task(
    secrets=["DB_PASSWORD=gcp-sm:db-password", "DB_OLD=gcp-sm:db-password/versions/2", "AWS=aws-sm:other"],
    image="europe-west4-docker.pkg.dev/img-proj/ml/trainer:1",
)
def train(repo: str) -> int:
    return len(os.environ["DB_PASSWORD"]) + len(repo)


@task(image="eu.gcr.io/legacy-proj/scorer:2")
def score(n: int) -> int:
    return n * 2


@workflow
def guarded(repo: str) -> int:
    hub(repo)
    return score(train(repo))


@task
def inc(n: int) -> int:
    return n + 1


@workflow
def plain(n: int) -> int:
    return inc(n)
