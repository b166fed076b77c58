"""KFP's importer (``test_data/.../pipeline_with_importer.py``): an existing file brought in as an artifact.

``dsl.importer(artifact_uri=..., artifact_class=Dataset)`` is a ``TypedFile`` constant in the workflow
body (stored like an input when the run starts, and cached and recorded by its content, so the
importer's ``reimport`` flag has no counterpart), or a ``TypedFile`` input for the second, run-time
chosen, dataset. ``train`` returns a NamedTuple of a scalar and a model file; the second training runs
only when the first's scalar is "123", as in the original; the workflow returns what each model holds.
The constant names a file next to this module; the importer's ``metadata`` is not ported (a file's
identity is its content).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from typedflow import Format, TypedFile, task, when, workflow
from typedflow.formats import Text


class TextDataset(Text):
    name = "text-dataset"
    schema_title = "system.Dataset"


class TextModel(Format):
    name = "text-model"
    schema_title = "system.Model"


CORPUS = TypedFile[TextDataset].from_path(Path(__file__).parent / "data" / "corpus1.txt")


class Outputs(NamedTuple):
    scalar: str
    model: TypedFile[TextModel]


class Trained(NamedTuple):
    first: str
    second: str | None


@task
def train(dataset: TypedFile[TextDataset]) -> Outputs:
    data = dataset.read_text()
    model: TypedFile[TextModel] = TypedFile.new(suffix=".txt")
    with open(model, "w", encoding="utf-8") as fh:
        fh.write(f"My model trained using data: {data}")
    return Outputs(scalar="123", model=model)


@task
def read_model(model: TypedFile[TextModel]) -> str:
    return model.read_text()


@workflow
def my_pipeline(dataset2: TypedFile[TextDataset]) -> Trained:
    train1 = train(CORPUS)
    with when(train1.scalar == "123"):
        # read inside the branch: on Vertex a file made in a branch cannot be used after it (docs/vertex.md)
        second = read_model(train(dataset2).model)
    return Trained(first=read_model(train1.model), second=second)


def reference(corpus: str, dataset2: str) -> tuple[str, str | None]:
    """The two models' contents (the second only when the first training's scalar is "123")."""
    scalar, first = "123", f"My model trained using data: {corpus}"
    return first, (f"My model trained using data: {dataset2}" if scalar == "123" else None)
