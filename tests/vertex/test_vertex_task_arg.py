"""A task executor's argument, its template encoded once per template (``task_arg``), is byte for byte the
argument of the whole payload encoded at once."""

from __future__ import annotations

from typing import Any

import vertex_flows as flows
from hypothesis import given, settings
from hypothesis import strategies as st
from typedflow.backends.vertex.components import executor, task_arg, task_payload, template_json

from typedflow.ir.canonical import canonical_json

# Names and keys full of JSON punctuation, KFP placeholder braces and the payload's own key names.
_text = st.one_of(
    st.sampled_from(["workflow", "template", "ran", "plan", ',"workflow":', "{{", "}}", "{{$}}"]),
    st.text(alphabet=st.sampled_from([*'ab{}[],:"\\ \n\x00é😀', "\u2028"]), max_size=10),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=20,
)
_REAL = template_json(flows.chain.ir.tasks[0])
_templates = st.one_of(st.just(_REAL), st.dictionaries(_text, _json, max_size=5))
_extras = st.sampled_from(
    [{}, {"ran": "typedflow-ran"}, {"on_failure": True}, {"on_failure": False}, {"lists": ["xs"], "ran": "r"}]
)


def _arg(payload: dict[str, Any] | str) -> str:
    arg: str = executor("python:3.11", "task", payload, None)["container"]["args"][-1]
    return arg


@settings(max_examples=300, deadline=None)
@given(
    node=_text,
    workflow=_text,
    plan=st.dictionaries(_text, _json, max_size=4),
    extra=_extras,
    template=_templates,
)
def test_task_arg_is_the_whole_payload_encoded(
    node: str, workflow: str, plan: dict[str, Any], extra: dict[str, Any], template: Any
) -> None:
    payload = {**task_payload(node, workflow, "sha256:" + "0" * 64, plan), **extra}
    assert _arg(task_arg(canonical_json(template), payload)) == _arg({**payload, "template": template})
