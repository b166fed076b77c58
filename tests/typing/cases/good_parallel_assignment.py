"""Names bound together, `a, b = x, y`, each hold their own task output (a condition may compare them)."""

from typedflow import task, when, workflow


@task
def whole(i: int) -> int:
    return i


@task
def real(f: float) -> float:
    return f


@task
def say(s: str) -> str:
    return s


@workflow
def parallel(i: int, f: float) -> str | None:
    a, b = whole(i), real(f)
    out = None
    with when(a < b):
        out = say("lt")
    [c, d] = [real(f), whole(i)]
    with when(c >= d):
        say("ge")
    return out
