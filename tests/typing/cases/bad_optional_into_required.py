"""T | None where T is declared: an Optional output does not fit a required parameter."""

from typedflow import task, workflow


@task
def find(n: int) -> int | None:
    return None


@task
def use(x: int) -> int:
    return x


@workflow
def optional_in(n: int, fallback: int | None = None) -> int:
    use(fallback)  # E: arg-type
    return use(find(n))  # E: arg-type
