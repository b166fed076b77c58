"""A map_over body defined inside a when block returns its own result: no workflow return in a branch."""

from typedflow import map_over, task, when, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def in_a_branch(xs: list[int], n: int) -> list[int] | None:
    with when(n > 0):
        doubled = map_over(lambda x: double(x=x), xs)
    return doubled


@workflow
def nested_in_a_branch(xs: list[int], n: int) -> list[int] | None:
    with when(n > 0):

        def body(x: int) -> int:
            return double(x=x)

        doubled = map_over(body, xs)
    return doubled
