"""Arithmetic on outputs: binary and unary operators, augmented assignment, int()/abs()."""

from typedflow import task, workflow


@task
def count(n: int) -> int:
    return n


@task
def use(x: int) -> None:
    pass


@workflow
def arithmetic(n: int) -> None:
    c = count(n)
    total = c + 1  # E: typedflow-arithmetic
    half = 10 // c  # E: typedflow-arithmetic
    neg = -c  # E: typedflow-arithmetic
    c += n  # E: typedflow-arithmetic
    a = abs(n)  # E: typedflow-arithmetic
    use(int(count(n)))  # E: typedflow-arithmetic
    use(total)
    use(half)
    use(neg)
    use(a)
