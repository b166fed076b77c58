"""KFP's parallel-for over artifacts (``test_data/.../pipeline_with_parallelfor_list_artifacts.py``).

Two sub-workflows each make one file per text in a loop and return the list of files (KFP's
``dsl.Collected`` of artifacts: ``list[TypedFile[...]]`` here); the caller loops over each list. One
list holds generic artifacts (``Text``), the other datasets (``TextDataset``, a subclass format, whose
Vertex artifact type is ``system.Dataset``); ``describe`` takes a bare ``TypedFile`` and so accepts
both. The original's artifact metadata (``length``) is computed from the content by ``describe``,
which returns it with the text (the original prints the artifact's name).
"""

from __future__ import annotations

from typing import NamedTuple

from typedflow import TypedFile, map_over, task, workflow
from typedflow.formats import Text


class TextDataset(Text):
    name = "text-dataset"
    schema_title = "system.Dataset"


TEXTS = ["Hello", ",", " ", "world!"]


@task
def make_artifact(data: str) -> TypedFile[Text]:
    out = TypedFile.new(suffix=".txt")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(data)
    return out


@task
def make_dataset(data: str) -> TypedFile[TextDataset]:
    out = TypedFile.new(suffix=".txt")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(data)
    return out


@task
def describe(artifact: TypedFile) -> str:
    text = artifact.read_text()
    return f"{len(text)}:{text}"


@workflow
def make_artifacts(texts: list[str] = TEXTS) -> list[TypedFile[Text]]:
    return map_over(make_artifact, texts)


@workflow
def make_datasets(texts: list[str] = TEXTS) -> list[TypedFile[TextDataset]]:
    return map_over(make_dataset, texts)


class Described(NamedTuple):
    artifacts: list[str]
    datasets: list[str]


@workflow
def my_pipeline(texts: list[str] = TEXTS) -> Described:
    artifacts = map_over(describe, make_artifacts(texts))
    datasets = map_over(describe, make_datasets(texts))
    return Described(artifacts, datasets)


def reference(texts: list[str] | None = None) -> Described:
    described = [f"{len(t)}:{t}" for t in (TEXTS if texts is None else texts)]
    return Described(described, described)
