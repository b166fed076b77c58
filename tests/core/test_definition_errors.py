"""Definition-time checks: every rule, each asserting the message and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import expected_marks, import_source
from typedflow import WorkflowDefinitionError

HEADER = """
from __future__ import annotations
from typing import NamedTuple, Optional
import attrs
from typedflow import task, workflow, when, otherwise, map_over, TypedFile, TypedDirectory, Failure
from typedflow.formats import CSV, Parquet, Format, JSON

class ModelDir(Format):
    name = "model"

class SpecialCSV(CSV):
    name = "special-csv"

class Metrics(NamedTuple):
    accuracy: float
    f1: float

@task
def ingest(source: str, limit: int = 10) -> TypedFile[CSV]: ...
@task
def ingest_pq(source: str) -> TypedFile[Parquet]: ...
@task
def ingest_special(source: str) -> TypedFile[SpecialCSV]: ...
@task
def train(data: TypedFile[CSV], lr: float) -> TypedDirectory[ModelDir]: ...
@task
def evaluate(model: TypedDirectory[ModelDir], data: TypedFile[CSV]) -> Metrics: ...
@task
def count(data: TypedFile) -> int: ...
@task
def name_of(n: int) -> str: ...
@task
def ints() -> list[int]: ...
@task
def strs(xs: list[str]) -> int: ...
@task
def maybe(x: Optional[float]) -> float: ...
@task
def plain(x: float) -> float: ...
"""


def problems_of(tmp_path: Path, body: str) -> tuple[set[tuple[int, str]], set[tuple[int, str]], str]:
    src = HEADER + body
    expected = expected_marks(src)
    with pytest.raises(WorkflowDefinitionError) as info:
        import_source(tmp_path, src)
    got = {(p.loc.line, p.code) for p in info.value.problems}
    return expected, got, str(info.value)


def check(tmp_path: Path, body: str, *fragments: str) -> str:
    expected, got, message = problems_of(tmp_path, body)
    assert got == expected, message
    for f in fragments:
        assert f in message, message
    return message


def test_producer_type_not_assignable(tmp_path: Path) -> None:
    msg = check(
        tmp_path,
        """
@workflow
def wf(source: str) -> None:
    data = ingest(source=source)
    m = evaluate(model=train(data=data, lr=0.1), data=data)
    train(data=m.accuracy, lr=0.1)  # E: arg-type
""",
        'Argument "data" to task "train" has incompatible type "float"',
        'expected "TypedFile[CSV]"',
    )
    assert ".py:" in msg


def test_format_mismatch_and_subclass_format(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str) -> int:
    train(data=ingest_special(source=source), lr=0.1)
    count(data=ingest_pq(source=source))
    return count(data=ingest_pq(source=source)) if False else name_of(n=1)  # E: return-value
""",
    )
    check(
        tmp_path,
        """
@workflow
def wf(source: str) -> None:
    train(data=ingest_pq(source=source), lr=0.1)  # E: arg-type
""",
        '"TypedFile[Parquet]"',
        'expected "TypedFile[CSV]"',
    )


def test_missing_and_unknown_arguments(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str) -> None:
    data = ingest(source=source)
    train(data=data)  # E: call-arg
    train(data=data, lr=0.1, momentum=0.9)  # E: call-arg
    ingest()  # E: call-arg
""",
        'Missing positional argument "lr"',
        'Unexpected keyword argument "momentum"',
    )


def test_scalar_and_container_rules(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(n: int, s: str) -> None:
    name_of(n=s)  # E: arg-type
    strs(xs=ints())  # E: arg-type
    plain(x=n)
    name_of(n="3")  # E: arg-type
    plain(x=maybe(x=None))
    plain(x=True)
""",
        'expected "int"',
        '"list[int]"',
        'expected "list[str]"',
    )


def test_optional_is_not_the_plain_type(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@task
def opt() -> Optional[float]: ...

@workflow
def wf() -> None:
    plain(x=opt())  # E: arg-type
    maybe(x=opt())
    maybe(x=plain(x=1.0))
""",
        '"float | None"',
        'expected "float"',
    )


def test_field_of_an_optional_record(tmp_path: Path) -> None:
    # the record is Optional by its declared type: the message says so, not that it comes from a `when` branch
    msg = check(
        tmp_path,
        """
@task
def find(n: int) -> Optional[Metrics]: ...

@workflow
def wf(n: int) -> None:
    plain(x=find(n=n).accuracy)  # E: attr-defined
""",
        'find() (Metrics | None) has no attribute "accuracy" (the value may be None',
        'a @task that takes "Metrics | None"',
    )
    assert "when" not in msg


def test_a_task_defined_as_a_method(tmp_path: Path) -> None:
    # a @task on a method: its `self` is no typed input; the message says what to do instead
    check(
        tmp_path,
        """
class Steps:
    @task
    def clean(self, raw: str) -> str: ...  # E: typedflow-untyped

@workflow
def wf(raw: str) -> None:
    Steps().clean(raw)  # E: typedflow-untyped
""",
        "task 'clean' is a method: its first parameter, self, is not a typed input",
        "@staticmethod",
    )


def test_attribute_without_field(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str) -> None:
    data = ingest(source=source)
    m = evaluate(model=train(data=data, lr=0.1), data=data)
    plain(x=m.precision)  # E: attr-defined
""",
        'has no attribute "precision"',
    )


def test_return_value_checked_at_return_line(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(n: int) -> list[str]:
    x = ints()
    return x  # E: return-value
""",
        'Incompatible return value type (got "list[int]"',
        'expected "list[str]"',
    )


def test_python_control_flow_on_outputs(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str) -> None:
    data = ingest(source=source)
    m = evaluate(model=train(data=data, lr=0.1), data=data)
    if m.accuracy > 0.5:  # E: typedflow-truthiness
        pass
    for v in ints():  # E: typedflow-iteration
        pass
    y = m.f1 + 1  # E: typedflow-arithmetic
    z = len(ints())  # E: typedflow-len
    w = ints()[0]  # E: typedflow-index
    t = f"{m.f1}"  # E: typedflow-format
    while plain(x=1.0):  # E: typedflow-truthiness
        break
""",
        "use `with when(cond):`",
        "map_over",
        "inside a @task",
    )


def test_constants_typed_json_cannot_carry_exactly(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf() -> float:
    a = name_of(n=2**60)  # E: arg-type
    b = strs(xs=["a", "b"])
    return maybe(x=float("inf"))  # E: arg-type
""",
        'Argument "n" to task "name_of": int 1152921504606846976 is beyond ±(2**53 - 1)',
        "pass it as a str",
        'Argument "x" to task "maybe": expected a finite float, got inf',
    )


def test_misuse_names_what_the_value_is(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str, xs: list[int]) -> list[str]:
    for x in xs:  # E: typedflow-iteration
        pass
    t = f"{source}"  # E: typedflow-format
    u = len(ints())  # E: typedflow-len
    return map_over(lambda v: name_of(n=v + 1), xs)  # E: typedflow-arithmetic
""",
        'iterating over workflow input "xs" (list[int]) inside a workflow',
        'string formatting of workflow input "source" (str)',
        "len() of task output ints() (list[int])",
        "arithmetic on map_over item (int)",
    )


def test_branch_output_outside_branch(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str) -> Optional[float]:
    data = ingest(source=source)
    m = evaluate(model=train(data=data, lr=0.1), data=data)
    with when(m.accuracy >= 0.9):
        good = plain(x=m.f1)
        plain(x=good)
    with otherwise():
        bad = plain(x=0.0)
    maybe(x=good)
    plain(x=bad)  # E: arg-type
    return good
""",
        "comes from a `when` branch",
    )


def test_map_over_types_and_scope(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(source: str, lrs: list[float], names: list[str]) -> list[Metrics]:
    data = ingest(source=source)
    ms = map_over(lambda lr: evaluate(model=train(data=data, lr=lr), data=data), lrs)
    map_over(lambda n: train(data=data, lr=n), names)  # E: arg-type
    inner = []
    map_over(lambda lr: inner.append(plain(x=lr)) or plain(x=lr), lrs)
    plain(x=inner[0])  # E: typedflow-map-scope
    map_over(lambda lr: plain(x=lr), ms)  # E: arg-type
    return ms
""",
    )


def test_unannotated_and_unsupported(tmp_path: Path) -> None:
    src = (
        HEADER
        + """
@task
def untyped(x, y: int) -> int: ...  # E: typedflow-untyped

@task
def noreturn(x: int): ...  # E: typedflow-untyped

@task
def setty(x: set[int]) -> int: ...  # E: typedflow-unsupported-type

class Plain:
    pass

@task
def weird(x: int) -> Plain: ...  # E: typedflow-unsupported-type

@workflow
def wf(n: int) -> None:
    untyped(x=1, y=n)  # E: typedflow-untyped
    noreturn(x=n)  # E: typedflow-untyped
    setty(x={1})  # E: typedflow-untyped
    weird(x=n)  # E: typedflow-untyped
"""
    )
    with pytest.raises(WorkflowDefinitionError) as info:
        import_source(tmp_path, src)
    got = {(p.loc.line, p.code) for p in info.value.problems}
    assert got == expected_marks(src), str(info.value)
    msg = str(info.value)
    assert "parameter 'x' has no type annotation" in msg
    assert "has no return annotation" in msg
    assert "not a supported value type" in msg
    assert "set[int]: not a supported annotation; use list[T] or tuple[T, ...] (typed JSON has no sets)" in msg


def test_unsupported_annotations_say_what_to_write(tmp_path: Path) -> None:
    # Literal, a type variable: valid Python, refused with what to write instead
    msg = check(
        tmp_path,
        """
from typing import Literal, TypeVar
T = TypeVar("T")

@task
def pick(kind: Literal["a", "b"]) -> int: ...  # E: typedflow-unsupported-type

@task
def same(x: T) -> T: ...  # E: typedflow-unsupported-type

@workflow
def wf(n: int) -> None:
    pick(kind="a")  # E: typedflow-untyped
    same(x=n)  # E: typedflow-untyped
""",
        "use an Enum of the values (class Kind(enum.StrEnum): ...), or their type",
        "a type variable: a task's or workflow's values need concrete types",
    )
    assert msg


def test_duplicate_task_names(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@task(name="step")
def a(x: int) -> int: ...

@task(name="step")
def b(x: int) -> int: ...

@workflow
def wf(n: int) -> int:
    y = a(x=n)
    return b(x=y)  # E: typedflow-duplicate-name
""",
        'Two different tasks are named "step"',
    )


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    expected, got, message = problems_of(
        tmp_path,
        """
@workflow
def wf(source: str) -> None:
    data = ingest(source=source)
    train(data=data)  # E: call-arg
    name_of(n=source)  # E: arg-type
    if plain(x=1.0):  # E: typedflow-truthiness
        pass
""",
    )
    assert got == expected
    assert "has 3 errors" in message


def test_conditions_and_otherwise_placement(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(n: int, s: str) -> None:
    with when(name_of(n=n) > 3):  # E: operator
        plain(x=1.0)
    with otherwise():
        plain(x=2.0)
    plain(x=3.0)
    with otherwise():  # E: typedflow-otherwise
        plain(x=4.0)
    with when(plain(x=1.0)):  # E: typedflow-condition
        pass
    with when((plain(x=1.0) > 0.5) & ~(name_of(n=n) == s)):
        pass
""",
    )


def test_subworkflow_arguments_checked(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def inner(k: int) -> str:
    return name_of(n=k)

@workflow
def outer(s: str) -> str:
    inner(k=s)  # E: arg-type
    return inner(k=3)
""",
        'Argument "k" to workflow "inner"',
    )


def test_on_failure_and_schedule(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@task
def notify(failure: Failure, channel: str) -> None: ...

@task
def bad_notify(what: int) -> None: ...

@workflow(on_failure=notify, schedule="0 3 * * *")
def good(channel: str) -> None:
    plain(x=1.0)

@workflow(on_failure=bad_notify, schedule="every day")  # E: typedflow-on-failure, typedflow-schedule
def bad(channel: str) -> None:
    plain(x=1.0)
""",
    )


def test_workflow_body_exception_is_reported(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def wf(n: int) -> None:
    plain(x=1.0)
    raise ValueError("boom")  # E: typedflow-trace
""",
        "ValueError: boom",
    )


def test_a_library_call_failing_on_its_own_is_the_bodys_error_at_the_bodys_line(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
import json

@workflow
def wf(n: int) -> None:
    name_of(n=n)
    json.loads("{")  # E: typedflow-trace
""",
        "JSONDecodeError",
    )


def test_an_output_given_to_a_failing_function_in_a_workflow_defined_in_a_function(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
import json

def make(indent: int) -> Any:
    @workflow
    def wf(n: int) -> None:
        json.dumps(name_of(n=n), indent=indent)  # E: typedflow-call
    return wf

make(2)
""",
        'task output name_of() is passed to "dumps"',
        "the rest of the body is not checked",
    )


def test_recursive_workflow_is_named_as_such(tmp_path: Path) -> None:
    check(
        tmp_path,
        """
@workflow
def countdown(n: int) -> int:
    return countdown(n=n)  # E: typedflow-trace
""",
        "workflow 'countdown' calls itself",
        "recursion is not supported",
    )


def test_tasks_run_plain_outside_workflows(tmp_path: Path) -> None:
    mod = import_source(
        tmp_path,
        """
from typedflow import task, when
@task
def double(x: int) -> int:
    return 2 * x
""",
    )
    assert mod.double(x=4) == 8
    assert mod.double(5) == 10
    from typedflow import when

    with pytest.raises(RuntimeError, match="only have meaning inside a @workflow"):
        when(True)


def test_correct_issue_example_traces(tmp_path: Path) -> None:
    mod = import_source(
        tmp_path,
        """
from typing import NamedTuple
from typedflow import task, workflow, TypedFile, TypedDirectory, Resources, Retry, when, otherwise, map_over
from typedflow.formats import CSV, Format

class ModelDir(Format):
    name = "sklearn-model"

class Metrics(NamedTuple):
    accuracy: float
    f1: float

@task(retry=Retry(attempts=3, backoff=2.0), resources=Resources(cpu=2, memory="4Gi"))
def ingest(source: str, limit: int = 1000) -> TypedFile[CSV]: ...

@task(resources=Resources(gpu=1, memory="32Gi"))
def train(data: TypedFile[CSV], lr: float) -> TypedDirectory[ModelDir]: ...

@task
def evaluate(model: TypedDirectory[ModelDir], data: TypedFile[CSV]) -> Metrics: ...

@task
def register(model: TypedDirectory[ModelDir], accuracy: float) -> str: ...

@workflow
def training(source: str, lrs: list[float]) -> list[Metrics]:
    data = ingest(source=source)
    results = map_over(lambda lr: evaluate(model=train(data=data, lr=lr), data=data), lrs)
    best = train(data=data, lr=0.01)
    m = evaluate(model=best, data=data)
    with when(m.accuracy >= 0.85):
        register(model=best, accuracy=m.accuracy)
    return results
""",
    )
    doc = mod.training.ir
    kinds = [n.kind for n in doc.workflow.nodes]
    assert kinds == ["task", "map", "task", "task", "conditional"]
    assert [t.name for t in doc.tasks] == ["evaluate", "ingest", "register", "train"]
    ingest = doc.task("ingest")
    assert ingest.retry.attempts == 3 and ingest.resources.memory == "4Gi"
    assert ingest.inputs[1].default == 1000
    assert doc.workflow.returns.kind == "list" and doc.workflow.returns.args[0].name.endswith(":Metrics")


def test_a_return_inside_a_when_block_is_an_error_not_a_wrong_answer(tmp_path: Path) -> None:
    # Python gives x for x <= 3; a traced `return` inside the block used to make that null.
    source = """
        from typedflow import task, when, workflow

        @task
        def double(x: int) -> int:
            return 2 * x

        @workflow
        def wf(x: int) -> int:
            with when(x > 3):
                return double(x=x)  # E: typedflow-return-in-branch
            return x
    """
    with pytest.raises(WorkflowDefinitionError) as info:
        import_source(tmp_path, source)
    assert {(p.loc.line, p.code) for p in info.value.problems} == expected_marks(source)


@pytest.mark.parametrize(
    "signature",
    ["a, b=1", "a, /, b, *args, c, d=2, **kw", "", "a, /", "*, k", "a, b, /, c, *, d", "*args, **kw"],
)
def test_parameter_kinds_read_off_the_code_are_the_signatures(signature: str) -> None:
    import inspect

    from typedflow.dsl.tasks import kinds_of

    ns: dict[str, Any] = {}
    exec(f"def f({signature}):\n    local = 1\n    return local", ns)
    ps = inspect.signature(ns["f"]).parameters.values()
    assert kinds_of(ns["f"]) == (
        frozenset(p.name for p in ps if p.kind is p.POSITIONAL_ONLY),
        frozenset(p.name for p in ps if p.kind is p.KEYWORD_ONLY),
    )
