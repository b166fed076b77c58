"""map_over applies its function to elements of the list: their type must fit."""

from typedflow import map_over, task, workflow


@task
def numbers(n: int) -> list[int]:
    return [n]


@task
def shout(word: str) -> str:
    return word


@workflow
def element_type(n: int) -> list[str]:
    return map_over(shout, numbers(n))  # E: arg-type
