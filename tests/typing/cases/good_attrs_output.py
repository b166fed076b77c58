"""attrs records: fields of an attrs output are wired like NamedTuple fields."""

import attrs

from typedflow import task, workflow


@attrs.frozen
class Metrics:
    accuracy: float
    loss: float


@task
def evaluate(n: int) -> Metrics:
    return Metrics(0.9, 0.1)


@task
def publish(accuracy: float, metrics: Metrics) -> str:
    return "ok"


@workflow
def attrs_fields(n: int) -> str:
    m = evaluate(n)
    return publish(m.accuracy, m)
