"""The element type also reaches the tasks a map_over function calls."""

from typedflow import map_over, task, workflow


@task
def numbers(n: int) -> list[int]:
    return [n]


@task
def shout(word: str) -> str:
    return word


@workflow
def element_type_lambda(n: int) -> list[str]:
    def each(i: int) -> str:
        return shout(i)  # E: arg-type

    map_over(each, numbers(n))
    return map_over(lambda i: shout(i), numbers(n))  # E: arg-type
