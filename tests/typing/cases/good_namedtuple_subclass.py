"""A subclass of a NamedTuple record (methods added) is accepted where the NamedTuple is declared, as in Python."""

from typing import NamedTuple

from typedflow import task, workflow


class Metrics(NamedTuple):
    accuracy: float
    loss: float


class ScoredMetrics(Metrics):
    def passed(self, threshold: float) -> bool:
        return self.accuracy >= threshold


@task
def evaluate(n: int) -> ScoredMetrics:
    return ScoredMetrics(0.9, 0.1)


@task
def log_metrics(m: Metrics) -> str:
    return f"{m.accuracy:.2f}"


@workflow
def report(n: int) -> str:
    return log_metrics(evaluate(n))


@task
def show(value: float) -> str:
    return str(value)


@workflow
def fields(n: int) -> str:
    accuracy, loss = evaluate(n)
    show(loss)
    show(accuracy)
    return show(evaluate(n).accuracy)
