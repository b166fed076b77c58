"""Decorators called with options keep the exact signatures."""

import datetime as dt

from typedflow import Resources, Retry, task, workflow


@task(retry=Retry(attempts=3), resources=Resources(cpu=2), timeout=dt.timedelta(minutes=5))
def fetch(url: str) -> bytes:
    return b""


@task(name="parse-bytes", cache=False)
def parse(raw: bytes) -> int:
    return len(raw)


@workflow(name="nightly", schedule="0 3 * * *")
def nightly(url: str) -> int:
    return parse(fetch(url))
