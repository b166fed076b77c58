"""The plugin follows the decorator by its full name, whatever it is imported as."""

from typedflow import task
from typedflow import workflow as flow


@task
def count(n: int) -> int:
    return n


@task
def use(x: int) -> None:
    pass


@flow(name="aliased")
def aliased(n: int) -> None:
    c = count(n)
    use(c * 2)  # E: typedflow-arithmetic
