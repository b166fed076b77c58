"""map_over with tolerated_failure gives None for a failed item: the task must return an Optional."""

from typedflow import map_over, task, workflow


@task
def square(x: int) -> int:
    return x * x


@task
def maybe_square(x: int) -> int | None:
    return x * x


@workflow
def strict(xs: list[int]) -> list[int]:
    return map_over(square, xs, distributed=True, tolerated_failure=0.1)  # E: return-value


@workflow
def tolerant(xs: list[int]) -> list[int | None]:
    return map_over(maybe_square, xs, distributed="auto", tolerated_failure=0.1)
