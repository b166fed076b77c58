"""one_of(): the value of whichever branch of a complete when chain ran."""

from typedflow import fail, one_of, orwhen, otherwise, task, when, workflow


@task
def heads(seed: int) -> str:
    return "heads"


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
    with orwhen(side == "tails"):
        b = report("T")
    with otherwise():
        fail("the coin stood on its edge")
    return report(one_of(a, b))
