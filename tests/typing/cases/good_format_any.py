"""TypedFile[formats.Any] (the root Format) accepts every format."""

from typedflow import TypedFile, task, workflow
from typedflow.formats import JSON, Any


@task
def config(name: str) -> TypedFile[JSON]:
    return TypedFile.new(".json")


@task
def upload(f: TypedFile[Any]) -> str:
    return f.uri


@workflow
def root_format(name: str) -> str:
    return upload(config(name))
