"""and/or/not and conditional expressions truth-test their operands."""

from typedflow import task, when, workflow


@task
def passed(n: int) -> bool:
    return True


@task
def pick(a: int, b: bool) -> int:
    return a


@workflow
def operators(n: int, strict: bool) -> int:
    ok = passed(n)
    both = ok and strict  # E: typedflow-truthiness
    either = strict or ok  # E: typedflow-truthiness
    with when(not ok):  # E: typedflow-truthiness, typedflow-condition
        pick(n, both)
    return pick(1 if ok else 2, either)  # E: typedflow-truthiness
