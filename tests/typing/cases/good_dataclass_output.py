"""dataclass records: fields and whole records flow into matching parameters."""

import dataclasses

from typedflow import task, workflow


@dataclasses.dataclass(frozen=True)
class Model:
    weights: list[float]
    version: int


@task
def fit(n: int) -> Model:
    return Model([0.0] * n, 1)


@task
def deploy(model: Model, version: int) -> str:
    return "deployed"


@workflow
def dataclass_fields(n: int) -> str:
    model = fit(n)
    return deploy(model, model.version)
