"""attrs and dataclass outputs: unknown fields, and fields of the wrong type."""

import dataclasses

import attrs

from typedflow import task, workflow


@attrs.frozen
class Metrics:
    accuracy: float


@dataclasses.dataclass(frozen=True)
class Model:
    version: int


@task
def evaluate(n: int) -> Metrics:
    return Metrics(0.9)


@task
def fit(n: int) -> Model:
    return Model(1)


@task
def publish(value: float) -> None:
    pass


@task
def tag(label: str) -> None:
    pass


@workflow
def record_fields(n: int) -> None:
    m = evaluate(n)
    publish(m.precision)  # E: attr-defined
    tag(fit(n).version)  # E: arg-type
