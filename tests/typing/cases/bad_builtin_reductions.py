"""Builtins that add, compare or truth-test the outputs of a list they are given: sum() is arithmetic,
max()/min()/sorted() compare (a truth-tested condition), any()/all() truth-test."""

from typedflow import task, workflow


@task
def accuracy(model: str) -> float:
    return 0.5


@task
def passed(model: str) -> bool:
    return True


@task
def report(value: float) -> float:
    return value


@workflow
def compare(a: str, b: str) -> float:
    first, second = accuracy(a), accuracy(b)
    best = max([first, second])  # E: typedflow-truthiness
    total = sum([first, second])  # E: typedflow-arithmetic
    both = all([passed(a), passed(b)])  # E: typedflow-truthiness
    ranked = sorted((first, second))  # E: typedflow-truthiness
    only = min([first])
    report(only)
    report(total)
    report(best)
    report(both)
    report(ranked[0])
    return report(first)
