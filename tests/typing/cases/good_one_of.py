"""one_of(): the value of whichever branch of a complete when chain ran."""

from typedflow import fail, map_over, one_of, orwhen, otherwise, task, when, workflow


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


@task
def count(side: str) -> int:
    return len(side)


@task
def sides(n: int) -> list[str]:
    return ["heads"] * n


@task
def len_of(xs: list[int]) -> int:
    return len(xs)


@workflow
def compared(seed: int) -> str:
    """A one_of value as a condition operand, and a one_of list as map_over items."""
    side = flip(seed)
    with when(side == "heads"):
        a = count("H")
    with otherwise():
        b = count("tails")
    with when(one_of(a, b) > 2):
        c = sides(one_of(a, b))
    with otherwise():
        d = sides(1)
    counted = map_over(count, one_of(c, d))
    return report(flip(len_of(counted)))
