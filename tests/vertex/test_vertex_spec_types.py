"""The typed dicts the Vertex backend builds its spec with (``backends/vertex/spec.py``) name only fields of the
``pipeline_spec.proto`` messages they stand for, under the messages' JSON names."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest
from kfp.pipeline_spec import pipeline_spec_pb2 as pb
from typedflow.backends.vertex import spec

_PARAM_IN, _ART_IN = pb.TaskInputsSpec.InputParameterSpec, pb.TaskInputsSpec.InputArtifactSpec
_CONTAINER: Any = pb.PipelineDeploymentConfig.PipelineContainerSpec  # type: ignore[attr-defined]  # absent from the stub
MESSAGES: dict[Any, tuple[Any, ...]] = {
    # an output's ParameterSpec is the input's without isOptional and defaultValue, which outputs never get
    spec.ParameterSpec: (pb.ComponentInputsSpec.ParameterSpec,),
    spec.ArtifactTypeSchema: (pb.ArtifactTypeSchema,),
    spec.ArtifactSpec: (pb.ComponentInputsSpec.ArtifactSpec, pb.ComponentOutputsSpec.ArtifactSpec),
    spec.Definitions: (pb.ComponentInputsSpec, pb.ComponentOutputsSpec),
    spec.TaskOutputParameter: (_PARAM_IN.TaskOutputParameterSpec,),
    spec.TaskOutputArtifact: (_ART_IN.TaskOutputArtifactSpec,),
    spec.TaskFinalStatus: (_PARAM_IN.TaskFinalStatus,),
    spec.RuntimeValue: (pb.ValueOrRuntimeParameter,),
    spec.InputSpec: (_PARAM_IN, _ART_IN),  # one or the other: a key of either
    spec.TaskInputs: (pb.TaskInputsSpec,),
    spec.Named: (pb.PipelineTaskInfo, pb.ComponentRef),
    spec.CachingOptions: (pb.PipelineTaskSpec.CachingOptions,),
    spec.TriggerPolicy: (pb.PipelineTaskSpec.TriggerPolicy,),
    spec.RetryPolicy: (pb.PipelineTaskSpec.RetryPolicy,),
    spec.IteratorItems: (pb.ParameterIteratorSpec.ItemsSpec, pb.ArtifactIteratorSpec.ItemsSpec),
    spec.Iterator: (pb.ParameterIteratorSpec, pb.ArtifactIteratorSpec),
    spec.IteratorPolicy: (pb.PipelineTaskSpec.IteratorPolicy,),
    spec.TaskSpec: (pb.PipelineTaskSpec,),
    spec.ParameterSelector: (pb.DagOutputsSpec.ParameterSelectorSpec,),
    spec.ArtifactSelector: (pb.DagOutputsSpec.ArtifactSelectorSpec,),
    spec.ParameterSelectors: (pb.DagOutputsSpec.ParameterSelectorsSpec,),
    spec.ParameterOutput: (pb.DagOutputsSpec.DagOutputParameterSpec,),
    spec.ArtifactOutput: (pb.DagOutputsSpec.DagOutputArtifactSpec,),
    spec.DagOutputs: (pb.DagOutputsSpec,),
    spec.DagSpec: (pb.DagSpec,),
    spec.ComponentSpec: (pb.ComponentSpec,),
    spec.Accelerator: (_CONTAINER.ResourceSpec.AcceleratorConfig,),
    spec.Resources: (_CONTAINER.ResourceSpec,),
    spec.EnvVar: (_CONTAINER.EnvVar,),
    spec.Container: (_CONTAINER,),
    spec.ExecutorSpec: (pb.PipelineDeploymentConfig.ExecutorSpec,),
    spec.DeploymentSpec: (pb.PipelineDeploymentConfig,),
    spec.PipelineInfo: (pb.PipelineInfo,),
    spec.PipelineSpec: (pb.PipelineSpec,),
}


def test_every_typed_dict_of_the_module_is_held_to_a_message() -> None:
    typed = {v for v in vars(spec).values() if isinstance(v, type) and issubclass(v, dict) and v is not dict}
    assert typed == set(MESSAGES)


@pytest.mark.parametrize("td", list(MESSAGES), ids=lambda t: t.__name__)
def test_keys_are_fields_of_the_message(td: Any) -> None:
    for message in MESSAGES[td]:
        fields = {f.json_name for f in message.DESCRIPTOR.fields}
        if td is spec.InputSpec or td is spec.IteratorItems or td is spec.Iterator:
            fields = {f.json_name for m in MESSAGES[td] for f in m.DESCRIPTOR.fields}
        unknown = set(get_type_hints(td)) - fields
        assert not unknown, f"{td.__name__}: not fields of {message.DESCRIPTOR.full_name}: {sorted(unknown)}"
