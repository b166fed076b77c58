"""Building an attrs record from task outputs inside a workflow: mypy accepts it, the tracer asks for
a @task (or a NamedTuple of outputs), because the IR passes outputs, not records assembled from them."""

import attrs

from typedflow import task, workflow


@attrs.frozen
class Metrics:
    accuracy: float
    loss: float


@task
def accuracy(n: int) -> float:
    return 0.9


@task
def loss(n: int) -> float:
    return 0.1


@workflow
def record_out(n: int) -> Metrics:
    return Metrics(accuracy=accuracy(n), loss=loss(n))  # E[tracer]: typedflow-container
