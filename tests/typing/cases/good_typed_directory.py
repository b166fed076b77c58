"""TypedDirectory follows the same format rules as TypedFile."""

from typedflow import TypedDirectory, task, workflow
from typedflow.formats import ONNX, Format


class QuantizedONNX(ONNX):
    name = "onnx-int8"


@task
def export(n: int) -> TypedDirectory[QuantizedONNX]:
    return TypedDirectory.new()


@task
def serve(models: TypedDirectory[ONNX]) -> str:
    return models.uri


@task
def archive(d: TypedDirectory[Format]) -> str:
    return d.uri


@workflow
def directories(n: int) -> str:
    d = export(n)
    serve(d)
    return archive(d)
