"""f-strings, %, str.format, str() and print() format a value that does not exist yet."""

from typedflow import task, workflow


@task
def score(n: int) -> float:
    return 0.5


@task
def log(message: str) -> None:
    pass


@workflow
def formatting(n: int) -> None:
    s = score(n)
    log(f"score={s}")  # E: typedflow-format
    log("score=%s" % s)  # E: typedflow-format  # noqa: UP031
    log("score={}".format(s))  # E: typedflow-format  # noqa: UP032
    log(str(s))  # E: typedflow-format
    print(s)  # E: typedflow-format
