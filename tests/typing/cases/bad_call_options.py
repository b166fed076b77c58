"""A call with options is checked like any other call."""

from typedflow import task, workflow


@task
def parse(text: str) -> int:
    return len(text)


@workflow
def pipeline(n: int) -> int:
    return parse.options(cache=False)(n)  # E: arg-type
