# The generated protobuf messages backends/vertex parses a compiled PipelineSpec into.
from _typeshed import Incomplete

from google.protobuf.message import Message

class PipelineSpec(Message):
    def __init__(self, **kwargs: Incomplete) -> None: ...

class PipelineDeploymentConfig(Message):
    class ExecutorSpec(Message):
        def __init__(self, **kwargs: Incomplete) -> None: ...

    def __init__(self, **kwargs: Incomplete) -> None: ...

def __getattr__(name: str) -> Incomplete: ...
