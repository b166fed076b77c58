"""Each name of `a, b = x, y` is its task output: misusing one is reported, as for a plain assignment."""

from typedflow import task, workflow


@task
def whole(i: int) -> int:
    return i


@task
def real(f: float) -> float:
    return f


@workflow
def parallel(i: int, f: float) -> None:
    a, b = whole(i), real(f)
    whole(a)
    real(b + 1)  # E: typedflow-arithmetic
