"""The decorators used through the package namespace."""

import typedflow as tf


@tf.task
def inc(x: int) -> int:
    return x + 1


@tf.workflow
def twice(x: int) -> int:
    return inc(inc(x))


@tf.workflow(name="thrice")
def thrice(x: int) -> int:
    return inc(twice(x))
