"""when() on a value known while tracing is a plain `if`: it needs a condition on outputs."""

from typedflow import task, when, workflow

DEBUG = False


@task
def deploy(n: int) -> None:
    pass


@workflow
def constant_condition(n: int) -> None:
    with when(DEBUG):  # E: typedflow-condition
        deploy(n)
