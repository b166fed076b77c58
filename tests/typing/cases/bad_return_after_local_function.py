"""A wrong return value after a map_over body defined in the workflow is reported at the workflow's return."""

from typedflow import map_over, task, workflow
from typedflow.files import TypedFile
from typedflow.formats import CSV, JSON


@task
def shards(prefix: str) -> list[str]:
    return []


@task
def process(path: str) -> TypedFile[CSV]:
    return TypedFile.new(suffix=".csv")


@task
def merge(files: list[TypedFile[CSV]]) -> TypedFile[CSV]:
    return files[0]


@workflow
def etl(prefix: str) -> TypedFile[JSON]:
    def body(path: str) -> TypedFile[CSV]:
        return process(path)

    files = map_over(body, shards(prefix))
    return merge(files)  # E: return-value
