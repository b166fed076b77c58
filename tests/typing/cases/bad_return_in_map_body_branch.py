"""A return inside a when block of a map_over body: the rest of the body would not be traced."""

from typedflow import map_over, task, when, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def in_a_map_body(xs: list[int]) -> list[int]:
    def body(x: int) -> int:
        with when(x > 0):
            return double(x=x)  # E: typedflow-return-in-branch
        return x

    return map_over(body, xs)
