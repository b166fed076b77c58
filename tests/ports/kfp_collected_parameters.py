"""KFP's collected parameters (``test_data/.../critical/collected_parameters.py``): fan-in of a loop's outputs.

``dsl.Collected(prepend_id_op.output)`` (a loop's outputs gathered into a list) is simply what
``map_over`` returns; a sub-workflow (KFP's pipeline-as-component) returns that list and the caller
consumes it. Each loop iteration runs two tasks (``prepend_id`` then ``consume_single_id``), a body
function with two calls. ``set_caching_options(False)`` is ``.options(cache=False)``. ``consume_ids``
returns the ids it consumed (the original prints them and returns 'completed').
"""

from __future__ import annotations

from typedflow import map_over, task, workflow


@task
def split_ids(ids: str) -> list[str]:
    return ids.split(",")


@task
def prepend_id(content: str) -> str:
    return f"model_id_{content}"


@task
def consume_ids(ids: list[str]) -> str:
    for model_id in ids:
        print(f"Consuming: {model_id}")
    return "completed: " + ",".join(ids)


@task
def consume_single_id(model_id: str) -> str:
    print(f"Consuming single: {model_id}")
    return "completed"


@workflow
def collecting_parameters(model_ids: str = "") -> list[str]:
    def per_id(model_id: str) -> str:
        prepended = prepend_id.options(cache=False)(model_id)
        consume_single_id.options(cache=False)(prepended)
        return prepended

    collected = map_over(per_id, split_ids(model_ids))
    consume_ids.options(cache=False)(collected)
    return collected


@workflow
def collected_param_pipeline(model_ids: str = "s1,s2,s3") -> str:
    return consume_ids.options(cache=False)(collecting_parameters(model_ids=model_ids))


def ref_collecting_parameters(model_ids: str = "") -> list[str]:
    return [f"model_id_{m}" for m in model_ids.split(",")]


def ref_collected_param_pipeline(model_ids: str = "s1,s2,s3") -> str:
    return "completed: " + ",".join(ref_collecting_parameters(model_ids))
