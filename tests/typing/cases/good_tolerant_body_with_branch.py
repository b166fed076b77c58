"""A map_over body that may fail, with tolerated_failure: its declared Optional return is what the items give,
also when the value it returns was made in a when block (None when the block did not run)."""

from typedflow import map_over, task, when, workflow


@task
def score(x: int) -> int:
    return x * 2


def _scored_if_positive(x: int) -> int | None:
    s = None
    with when(x > 0):
        s = score(x)
    return s


@workflow
def scores(xs: list[int]) -> list[int | None]:
    return map_over(_scored_if_positive, xs, tolerated_failure=0.5)


@workflow
def scores_inline(xs: list[int]) -> list[int | None]:
    def scored(x: int) -> int | None:
        s = None
        with when(x > 0):
            s = score(x)
        return s

    return map_over(scored, xs, tolerated_failure=0.5)
