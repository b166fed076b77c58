"""fail()'s message and map_over's options shape the graph: they are written in the workflow, not values of the
run (a task output or a workflow input)."""

from typedflow import fail, map_over, task, when, workflow


@task
def square(x: int) -> int:
    return x * x


@task
def explain(x: int) -> str:
    return f"{x} is too many"


@workflow
def squares(xs: list[int], parallel: int, tolerance: float) -> list[int]:
    with when(parallel > 100):
        fail(explain(parallel))  # E: arg-type
    return map_over(
        square,
        xs,
        max_concurrency=parallel,  # E: arg-type
        tolerated_failure=tolerance,  # E: arg-type
    )
