"""An attrs record built from outputs is a container too."""

import attrs

from typedflow import task, workflow


@attrs.frozen
class Metrics:
    accuracy: float


@task
def accuracy(n: int) -> float:
    return 0.9


@task
def publish(m: Metrics) -> None:
    pass


@workflow
def attrs_in(n: int) -> None:
    publish(Metrics(accuracy=accuracy(n)))  # E: typedflow-container
