"""The parts of a KFP v2 PipelineSpec this backend writes, as typed dicts.

Each class is a message of ``pipeline_spec.proto`` (``kfp.pipeline_spec.pipeline_spec_pb2``) under its JSON
field names, as far as this backend uses it; mypy checks the builders against them, a test holds every key to
the message's fields, and the tests parse each compiled spec into the messages. Dicts rather than the protobuf
messages themselves: the spec is written as JSON, and building a 10,000-task spec as messages and converting it
would take several times the whole compile.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# ----------------------------------------------------------------------------- component interfaces


class ParameterSpec(TypedDict):
    """``ComponentInputsSpec.ParameterSpec`` (and its outputs' counterpart)."""

    parameterType: str
    description: NotRequired[str]
    isOptional: NotRequired[bool]
    defaultValue: NotRequired[Any]


class ArtifactTypeSchema(TypedDict):
    schemaTitle: str
    schemaVersion: str


class ArtifactSpec(TypedDict):
    """``ComponentInputsSpec.ArtifactSpec`` (and its outputs' counterpart)."""

    artifactType: ArtifactTypeSchema
    description: NotRequired[str]
    isArtifactList: NotRequired[bool]


class Definitions(TypedDict, total=False):
    """``ComponentInputsSpec`` / ``ComponentOutputsSpec``."""

    parameters: dict[str, ParameterSpec]
    artifacts: dict[str, ArtifactSpec]


# ----------------------------------------------------------------------------- task inputs


class TaskOutputParameter(TypedDict):
    producerTask: str
    outputParameterKey: str


class TaskOutputArtifact(TypedDict):
    producerTask: str
    outputArtifactKey: str


class TaskFinalStatus(TypedDict):
    producerTask: str


class RuntimeValue(TypedDict):
    constant: Any


class InputSpec(TypedDict, total=False):
    """``TaskInputsSpec.InputParameterSpec`` or ``InputArtifactSpec``: one of these keys."""

    componentInputParameter: str
    componentInputArtifact: str
    taskOutputParameter: TaskOutputParameter
    taskOutputArtifact: TaskOutputArtifact
    runtimeValue: RuntimeValue
    taskFinalStatus: TaskFinalStatus


class TaskInputs(TypedDict, total=False):
    """``TaskInputsSpec``."""

    parameters: dict[str, InputSpec]
    artifacts: dict[str, InputSpec]


# ----------------------------------------------------------------------------- tasks and DAGs


class Named(TypedDict):
    """``PipelineTaskInfo`` and ``ComponentRef``."""

    name: str


class CachingOptions(TypedDict):
    enableCache: bool


class TriggerPolicy(TypedDict, total=False):
    condition: str
    strategy: str


class RetryPolicy(TypedDict):
    maxRetryCount: int
    backoffDuration: str
    backoffFactor: float
    backoffMaxDuration: str


class IteratorItems(TypedDict, total=False):
    raw: str
    inputParameter: str
    inputArtifact: str


class Iterator(TypedDict):
    """``ParameterIteratorSpec`` / ``ArtifactIteratorSpec``."""

    items: IteratorItems
    itemInput: str


class IteratorPolicy(TypedDict):
    parallelismLimit: int


class TaskSpec(TypedDict, total=False):
    """``PipelineTaskSpec``."""

    taskInfo: Named
    componentRef: Named
    inputs: TaskInputs
    dependentTasks: list[str]
    cachingOptions: CachingOptions
    triggerPolicy: TriggerPolicy
    retryPolicy: RetryPolicy
    parameterIterator: Iterator
    artifactIterator: Iterator
    iteratorPolicy: IteratorPolicy


class ParameterSelector(TypedDict):
    producerSubtask: str
    outputParameterKey: str


class ArtifactSelector(TypedDict):
    producerSubtask: str
    outputArtifactKey: str


class ParameterSelectors(TypedDict):
    parameterSelectors: list[ParameterSelector]


class ParameterOutput(TypedDict, total=False):
    """``DagOutputsSpec.DagOutputParameterSpec``."""

    valueFromParameter: ParameterSelector
    valueFromOneof: ParameterSelectors


class ArtifactOutput(TypedDict):
    """``DagOutputsSpec.DagOutputArtifactSpec``."""

    artifactSelectors: list[ArtifactSelector]


class DagOutputs(TypedDict, total=False):
    """``DagOutputsSpec``."""

    parameters: dict[str, ParameterOutput]
    artifacts: dict[str, ArtifactOutput]


class DagSpec(TypedDict):
    tasks: dict[str, TaskSpec]
    outputs: NotRequired[DagOutputs]


class ComponentSpec(TypedDict, total=False):
    executorLabel: str
    inputDefinitions: Definitions
    outputDefinitions: Definitions
    dag: DagSpec


# ----------------------------------------------------------------------------- executors


class Accelerator(TypedDict):
    type: str
    count: str
    resourceType: str
    resourceCount: str


class Resources(TypedDict, total=False):
    """``PipelineContainerSpec.ResourceSpec``."""

    cpuLimit: float
    resourceCpuLimit: str
    memoryLimit: float
    resourceMemoryLimit: str
    accelerator: Accelerator


class EnvVar(TypedDict):
    name: str
    value: str


class Container(TypedDict):
    """``PipelineDeploymentConfig.PipelineContainerSpec``."""

    image: str
    command: list[str]
    args: list[str]
    resources: NotRequired[Resources]
    env: NotRequired[list[EnvVar]]


class ExecutorSpec(TypedDict):
    """``PipelineDeploymentConfig.ExecutorSpec``."""

    container: Container


class DeploymentSpec(TypedDict):
    executors: dict[str, ExecutorSpec]


class PipelineInfo(TypedDict):
    name: str
    displayName: str


class PipelineSpec(TypedDict):
    components: dict[str, ComponentSpec]
    deploymentSpec: DeploymentSpec
    pipelineInfo: PipelineInfo
    root: ComponentSpec
    schemaVersion: str
    sdkVersion: str
