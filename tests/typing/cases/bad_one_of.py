"""one_of() needs a value from every branch of a chain that ends with otherwise()."""

from typedflow import one_of, otherwise, task, when, workflow


@task
def flip(seed: int) -> str:
    return "heads" if seed % 2 else "tails"


@task
def report(side: str) -> str:
    return side


@workflow
def coin(seed: int) -> str:
    side = flip(seed)
    with when(side == "heads"):
        a = report("H")
    with otherwise():
        b = report("T")
    c = report("x")
    with when(side == "tails"):
        d = report("T")
    report(one_of(a))  # E: typedflow-one-of
    report(one_of(a, c))  # E: typedflow-one-of
    report(one_of(d))  # E: typedflow-one-of
    return one_of(a, b)
