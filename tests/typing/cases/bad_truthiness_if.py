"""An output truth-tested by if/elif/while/assert: a run-time value is not known while tracing.

The tracer runs the body once and every truth test "holds", so it never reaches the elif.
"""

from typedflow import task, workflow


@task
def passed(n: int) -> bool:
    return True


@task
def count(n: int) -> int:
    return n


@task
def deploy(n: int) -> None:
    pass


@workflow
def branches(n: int) -> None:
    ok = passed(n)
    c = count(n)
    if ok:  # E: typedflow-truthiness
        deploy(n)
    elif c:  # E[mypy]: typedflow-truthiness
        deploy(0)
    while ok:  # E: typedflow-truthiness
        break
    assert c, "count must be positive"  # E: typedflow-truthiness
