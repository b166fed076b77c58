"""Options for one call of a task: caching off, its own retry and timeout."""

from typedflow import Retry, task, workflow


@task(retry=Retry(attempts=1))
def fetch(url: str) -> str:
    return url


@task
def parse(text: str) -> int:
    return len(text)


@workflow
def pipeline(url: str) -> int:
    text = fetch.options(cache=False, retry=Retry(attempts=3), timeout=30)(url=url)
    return parse.options(cache_version="2")(text)
